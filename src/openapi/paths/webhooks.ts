import { cursorParam, idParam, limitParam, listOf, pathParam, query, ref, type PathTable, uuid } from '../shared.ts';

/** src/webhooks/webhooks.routes.ts (admins). */
export const webhookPaths: PathTable = {
  '/api/v1/webhooks': {
    get: {
      summary: 'List webhooks',
      operationId: 'listWebhooks',
      responses: {
        '200': {
          description: 'Every subscription (one page)',
          schema: { ...listOf(ref('Webhook'), true), description: 'nextCursor is always null' },
        },
      },
      errors: ['forbidden', 'unavailable'],
    },
    post: {
      summary: 'Subscribe a URL to events',
      operationId: 'createWebhook',
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['url', 'events'],
          properties: {
            url: {
              type: 'string',
              format: 'uri',
              maxLength: 2048,
              description: 'Absolute http(s) URL with a host; no credentials, no fragment',
            },
            events: { type: 'array', minItems: 1, items: ref('WebhookEventType'), description: 'Event types, or "*" for all' },
            secret: { type: 'string', minLength: 16, maxLength: 256, pattern: '^\\S+$', description: 'Omit to get a generated one' },
            description: { type: ['string', 'null'], maxLength: 500 },
          },
        },
      },
      responses: {
        '201': { description: 'Created; the secret is shown once', schema: ref('WebhookCreated'), headers: ['Location', 'IdempotentReplayed'] },
      },
      errors: ['forbidden'],
    },
  },
  '/api/v1/webhooks/{id}': {
    get: {
      summary: 'Read a webhook',
      operationId: 'getWebhook',
      params: [idParam],
      responses: { '200': { description: 'The subscription', schema: ref('Webhook') } },
      errors: ['forbidden', 'not_found', 'unavailable'],
    },
    delete: {
      summary: 'Delete a webhook',
      operationId: 'deleteWebhook',
      params: [idParam],
      write: true,
      responses: { '204': { description: 'Deleted', headers: ['IdempotentReplayed'] } },
      errors: ['forbidden', 'not_found'],
    },
  },
  '/api/v1/webhooks/{id}/deliveries': {
    get: {
      summary: 'A webhook’s deliveries and their attempts, newest first',
      operationId: 'listWebhookDeliveries',
      params: [
        idParam,
        query('status', { type: 'string', enum: ['pending', 'succeeded', 'dead'] }),
        query('eventId', uuid),
        limitParam(500, 50),
        cursorParam,
      ],
      responses: { '200': { description: 'A page of deliveries', schema: listOf(ref('Delivery'), true) } },
      errors: ['validation_failed', 'forbidden', 'not_found', 'unavailable'],
    },
  },
  '/api/v1/webhooks/{id}/deliveries/{deliveryId}/replay': {
    post: {
      summary: 'Replay a dead-lettered delivery (fresh retry budget)',
      operationId: 'replayWebhookDelivery',
      params: [idParam, pathParam('deliveryId')],
      write: true,
      responses: { '202': { description: 'Pending again', schema: ref('DeliveryReplay'), headers: ['IdempotentReplayed'] } },
      errors: ['forbidden', 'not_found', 'conflict'],
    },
  },
};
