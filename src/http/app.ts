import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { newId } from '../ids.ts';
import type { Config } from '../config/config.ts';
import { isRetryable, sqlState } from '../write/retry.ts';
import { AppError, internalProblem, problemBody } from './errors.ts';

export interface HttpOptions {
  config: Pick<Config, 'bodyLimitBytes' | 'logLevel' | 'trustProxy'>;
  logger?: boolean | object;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
// Media type plus optional parameters (`application/json; charset=utf-8` is what most clients send).
const JSON_TYPES = /^application\/(?:json|merge-patch\+json|problem\+json)\s*(?:;.*)?$/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;
/** Deeper JSON than any Basalt body needs; recursive consumers (stringify, hashing) must never see more. */
export const MAX_JSON_DEPTH = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The HTTP shell: request ids, strict JSON parsing, problem+json errors, no stack traces.
 * Routes are added by the caller.
 */
export function createHttpServer(opts: HttpOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? { level: opts.config.logLevel },
    bodyLimit: opts.config.bodyLimitBytes,
    // Trust exactly N hops of X-Forwarded-For (proxy-addr counts hops from the socket).
    trustProxy: opts.config.trustProxy > 0 ? (_addr: string, hop: number) => hop < opts.config.trustProxy : false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : newId();
    },
    return503OnClosing: false,
    // A URL that does not decode (e.g. `%E0%A4%A`) gets the same problem+json as any bad input.
    frameworkErrors: (err, req, reply) => {
      reply.header('X-Request-Id', req.id);
      sendProblem(req, reply, new AppError('bad_request', `The URL is not valid: ${err.message.slice(0, 200)}`));
    },
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    const charset = CHARSET.exec(String(req.headers['content-type']))?.[1].toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return done(new AppError('unsupported_media_type', 'Send JSON encoded as UTF-8 (charset=utf-8).'), undefined);
    }
    if (body.length === 0) return done(null, undefined);
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return done(new AppError('invalid_json', 'The request body is not valid UTF-8.'), undefined);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      const detail = err instanceof RangeError ? 'The JSON document is nested too deeply.' : 'The request body is not valid JSON.';
      return done(new AppError('invalid_json', detail), undefined);
    }
    if (jsonDepthExceeds(parsed, MAX_JSON_DEPTH)) {
      return done(new AppError('invalid_json', `The JSON document is nested more than ${MAX_JSON_DEPTH} levels deep.`), undefined);
    }
    done(null, parsed);
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (body.length === 0) return done(null, undefined);
    done(
      new AppError('unsupported_media_type', `Send JSON (Content-Type: application/json), not ${String(req.headers['content-type']).slice(0, 100)}.`),
      undefined,
    );
  });

  app.setNotFoundHandler((req, reply) => {
    sendProblem(req, reply, new AppError('not_found', `No route for ${req.method} ${req.url.split('?')[0].slice(0, 200)}.`));
  });

  app.setErrorHandler((err, req, reply) => {
    sendProblem(req, reply, toAppError(err, req));
  });
  return app;
}

/** Iterative (a recursive walk is exactly what a hostile document would overflow). */
function jsonDepthExceeds(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

function toAppError(err: unknown, req: FastifyRequest): AppError | Error {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'The request body is larger than this server accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'Send JSON (Content-Type: application/json).');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', 'The request body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('bad_request', 'Content-Length does not match the body.');
    case 'FST_ERR_VALIDATION':
      return new AppError('validation_failed', e.message ?? 'Validation failed.');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    req.log.info({ err }, 'client error');
    return new AppError(e.statusCode === 413 ? 'payload_too_large' : 'bad_request', 'The request could not be understood.');
  }
  if (isRetryable(err)) {
    // The database is failing over or unreachable: a retry (the client's, or the load
    // balancer's for safe methods) will succeed, so say so instead of 500.
    req.log.warn({ err }, 'database unavailable');
    return new AppError('unavailable', 'The database is briefly unavailable; retry shortly.', undefined, undefined, { 'Retry-After': '1' });
  }
  if (sqlState(err) === '57014') {
    // A statement ran past the server's statement timeout (or was cancelled): the work was
    // rolled back; it is the server's condition, not the client's mistake.
    req.log.warn({ err }, 'statement cancelled');
    return new AppError('unavailable', 'The database took too long to answer; nothing was changed. Retry shortly.', undefined, undefined, {
      'Retry-After': '1',
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function sendProblem(req: FastifyRequest, reply: FastifyReply, err: AppError | Error): FastifyReply {
  if (err instanceof AppError) {
    if (err.headers) reply.headers(err.headers);
    if (err.status >= 500) req.log.warn({ code: err.code }, err.detail);
    return reply.code(err.status).type('application/problem+json').send(problemBody(err, String(req.id)));
  }
  req.log.error({ err }, 'unhandled error');
  return reply.code(500).type('application/problem+json').send(internalProblem(String(req.id)));
}
