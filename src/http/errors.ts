/**
 * The closed set of error codes, each mapped once to an HTTP status, rendered as RFC 9457
 * problem+json. Anything that is not an AppError becomes a generic 500 with the request id.
 */
export const ERROR_STATUS = {
  validation_failed: 400,
  bad_request: 400,
  invalid_json: 400,
  unauthenticated: 401,
  mfa_required: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  idempotency_in_progress: 409,
  already_exists: 409,
  version_conflict: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  precondition_required: 428,
  rate_limited: 429,
  internal_error: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const TITLES: Record<ErrorCode, string> = {
  validation_failed: 'Validation failed',
  bad_request: 'Bad request',
  invalid_json: 'Malformed JSON',
  unauthenticated: 'Authentication required',
  mfa_required: 'Multi-factor authentication required',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  not_acceptable: 'Not acceptable',
  conflict: 'Conflict',
  idempotency_in_progress: 'A request with this Idempotency-Key is still in progress',
  already_exists: 'Already exists',
  version_conflict: 'Version conflict',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  idempotency_key_reused: 'Idempotency-Key reused with a different request',
  precondition_required: 'Precondition required',
  rate_limited: 'Too many requests',
  internal_error: 'Internal server error',
  unavailable: 'Service unavailable',
};

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly errors?: FieldError[];
  readonly extra?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
  constructor(
    code: ErrorCode,
    detail: string,
    errors?: FieldError[],
    extra?: Record<string, unknown>,
    headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = 'AppError';
    this.code = code;
    this.detail = detail;
    this.errors = errors;
    this.extra = extra;
    this.headers = headers;
    this.status = ERROR_STATUS[code];
  }
}

export function validationError(errors: FieldError[], detail?: string): AppError {
  return new AppError(
    'validation_failed',
    detail ?? errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; '),
    errors,
  );
}

export function notFound(what = 'The resource'): AppError {
  return new AppError('not_found', `${what} does not exist or is not visible to you.`);
}

export function problemBody(err: AppError, requestId: string): Record<string, unknown> {
  return {
    type: `urn:basalt:problem:${err.code}`,
    title: TITLES[err.code],
    status: err.status,
    detail: err.detail,
    code: err.code,
    ...(err.errors ? { errors: err.errors } : {}),
    ...(err.extra ?? {}),
    requestId,
  };
}

export function internalProblem(requestId: string): Record<string, unknown> {
  return problemBody(
    new AppError('internal_error', `Something went wrong on our side. Quote request id ${requestId} to support.`),
    requestId,
  );
}
