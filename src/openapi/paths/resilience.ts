import { cursorParam, dateTime, limitParam, listOf, query, ref, type PathTable } from '../shared.ts';

/** src/resilience/resilience.routes.ts: chaos experiment history. */
const jsonObject = { type: 'object', additionalProperties: true, default: {} };

export const resiliencePaths: PathTable = {
  '/api/v1/resilience/experiments': {
    get: {
      summary: 'Chaos experiment results, newest first',
      operationId: 'listExperiments',
      params: [
        query('experiment', { type: 'string' }),
        query('runId', { type: 'string' }),
        query('passed', { type: 'boolean' }),
        limitParam(500, 50),
        cursorParam,
      ],
      responses: { '200': { description: 'A page of results', schema: listOf(ref('Experiment'), true) } },
      errors: ['validation_failed', 'unavailable'],
    },
    post: {
      summary: 'Record one experiment result (admin; the chaos runner)',
      operationId: 'recordExperiment',
      write: true,
      body: {
        description: 'At most 256 KiB; finishedAt must not be before startedAt.',
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['runId', 'experiment', 'title', 'passed', 'startedAt', 'finishedAt'],
          properties: {
            runId: { type: 'string', minLength: 1, maxLength: 100 },
            experiment: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_-]*$' },
            title: { type: 'string', minLength: 1, maxLength: 200 },
            hypothesis: { type: 'string', minLength: 1, maxLength: 2000 },
            passed: { type: 'boolean' },
            startedAt: { ...dateTime, maxLength: 40 },
            finishedAt: { ...dateTime, maxLength: 40 },
            metrics: jsonObject,
            details: jsonObject,
            environment: jsonObject,
          },
        },
      },
      responses: { '201': { description: 'Stored', schema: ref('Experiment'), headers: ['Location', 'IdempotentReplayed'] } },
      errors: ['forbidden'],
    },
  },
};
