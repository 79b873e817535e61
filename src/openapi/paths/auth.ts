import { ref } from '../shared.ts';
import type { PathTable } from '../shared.ts';

/** src/auth/auth.routes.ts: sign-in, sessions, MFA, signup (bodies as read by src/auth/input.ts). */
const TOKENS = { description: 'Signed in', schema: ref('TokenPair') };

export const authPaths: PathTable = {
  '/api/v1/auth/login': {
    post: {
      summary: 'Sign in with email and password',
      operationId: 'login',
      description:
        'One answer (401) for an unknown email, a wrong password and a disabled user. With MFA on, the answer is an MFA ' +
        'challenge (continue at /auth/mfa); when the organization requires MFA for the role and none is set up, an ' +
        'enrollment challenge (continue at /auth/mfa/enroll). Throttled per email and client address.',
      auth: 'none',
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password'],
          properties: {
            email: { type: 'string', minLength: 1, maxLength: 320 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
          },
        },
      },
      responses: { '200': { description: 'Tokens, or an MFA challenge', schema: ref('LoginResult') } },
      errors: ['unauthenticated', 'rate_limited', 'unavailable'],
    },
  },
  '/api/v1/auth/mfa': {
    post: {
      summary: 'Second sign-in step: the MFA token and a TOTP or recovery code',
      operationId: 'completeMfaLogin',
      auth: 'none',
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['mfaToken', 'code'],
          properties: {
            mfaToken: { type: 'string', minLength: 1, maxLength: 4096 },
            code: { type: 'string', minLength: 1, maxLength: 64, description: '6-digit TOTP code or a recovery code (xxxxx-xxxxx)' },
          },
        },
      },
      responses: { '200': TOKENS },
      errors: ['unauthenticated', 'rate_limited', 'unavailable'],
    },
  },
  '/api/v1/auth/mfa/enroll': {
    post: {
      summary: 'Start MFA enrollment: a new pending TOTP secret',
      operationId: 'enrollMfa',
      auth: 'bearerOrMfaToken',
      description: 'No request body. Signed-in users only (API keys are refused).',
      responses: { '200': { description: 'The pending secret', schema: ref('MfaEnrollment') } },
      errors: ['bad_request', 'forbidden', 'conflict', 'unavailable'],
    },
  },
  '/api/v1/auth/mfa/confirm': {
    post: {
      summary: 'Confirm MFA enrollment with a code from the pending secret',
      operationId: 'confirmMfa',
      auth: 'bearerOrMfaToken',
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['code'],
          properties: { code: { type: 'string', minLength: 1, maxLength: 64 } },
        },
      },
      responses: {
        '200': {
          description: 'MFA on; recovery codes (and, through an enrollment token, a session)',
          schema: ref('MfaConfirmation'),
          headers: ['IdempotentReplayed'],
        },
      },
      errors: ['forbidden', 'conflict', 'rate_limited'],
    },
  },
  '/api/v1/auth/mfa/disable': {
    post: {
      summary: 'Turn MFA off with a current code, a recovery code, or the password',
      operationId: 'disableMfa',
      write: true,
      body: {
        description: 'Exactly one of code and password.',
        schema: {
          type: 'object',
          additionalProperties: false,
          properties: {
            code: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
          },
          oneOf: [{ required: ['code'] }, { required: ['password'] }],
        },
      },
      responses: { '200': { description: 'MFA off', schema: ref('MfaState'), headers: ['IdempotentReplayed'] } },
      errors: ['forbidden', 'conflict', 'rate_limited'],
    },
  },
  '/api/v1/auth/refresh': {
    post: {
      summary: 'Rotate the refresh token',
      operationId: 'refreshSession',
      description: 'Presenting a token that was already rotated revokes its whole family (both holders must sign in again).',
      auth: 'none',
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['refreshToken'],
          properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 512 } },
        },
      },
      responses: { '200': TOKENS },
      errors: ['unauthenticated', 'unavailable'],
    },
  },
  '/api/v1/auth/logout': {
    post: {
      summary: 'End a session (revoke its refresh-token family)',
      operationId: 'logout',
      description:
        'The family of the refresh token sent, else that of the bearer access token. An unknown refresh token is not an ' +
        'error. Issued access tokens stay valid until they expire.',
      auth: 'optional',
      body: {
        required: false,
        schema: {
          type: 'object',
          additionalProperties: false,
          properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 512 } },
        },
      },
      responses: { '204': { description: 'Signed out' } },
      errors: ['bad_request', 'unavailable'],
    },
  },
  '/api/v1/auth/me': {
    get: {
      summary: 'The signed-in caller',
      operationId: 'me',
      responses: { '200': { description: 'User, organization and how this request authenticated', schema: ref('Me') } },
      errors: ['unavailable'],
    },
  },
  '/api/v1/auth/jwks': {
    get: {
      summary: 'Public keys that verify access tokens (JWKS)',
      operationId: 'jwks',
      auth: 'none',
      responses: { '200': { description: 'JSON Web Key Set', schema: ref('Jwks') } },
    },
  },
  '/.well-known/jwks.json': {
    get: {
      summary: 'Public keys that verify access tokens (JWKS, well-known location)',
      operationId: 'wellKnownJwks',
      auth: 'none',
      responses: { '200': { description: 'JSON Web Key Set', schema: ref('Jwks') } },
    },
  },
  '/api/v1/signup': {
    post: {
      summary: 'Create an organization and its admin (self-service hosting)',
      operationId: 'signup',
      description: 'Only when the server runs with BASALT_OPEN_SIGNUP=true; otherwise 404. Throttled per client address.',
      tags: ['Signup'],
      auth: 'none',
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['organizationName', 'name', 'email', 'password'],
          properties: {
            organizationName: { type: 'string', minLength: 1, maxLength: 200 },
            name: { type: 'string', minLength: 1, maxLength: 200 },
            email: { type: 'string', format: 'email', maxLength: 320 },
            password: { type: 'string', minLength: 8, maxLength: 256 },
          },
        },
      },
      responses: { '201': { description: 'The organization and a session for its admin', schema: ref('SignupResult') } },
      errors: ['bad_request', 'not_found', 'already_exists', 'rate_limited', 'unavailable'],
    },
  },
};
