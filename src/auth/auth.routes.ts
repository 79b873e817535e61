import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorOf, idempotencyKeyOf } from '../http/request-context.ts';
import { sendWrite } from '../records/records.routes.ts';
import type { IdentityDeps } from './auth.service.ts';
import { login } from './login.service.ts';
import { type CallInfo, completeMfaLogin, confirmMfa, disableMfa, enrollMfa } from './mfa.service.ts';
import { logout, me, refreshSession } from './sessions.service.ts';
import { signup } from './signup.service.ts';

function callOf(req: FastifyRequest): CallInfo {
  return { requestId: String(req.id), idempotencyKey: idempotencyKeyOf(req), authorization: req.headers.authorization, ip: req.ip };
}

/**
 * Sign-in, sessions, MFA and signup. Routes that run before a full sign-in are public and
 * authenticate themselves (enroll and confirm also take an enrollment MFA token).
 */
export function registerAuthRoutes(app: FastifyInstance, deps: IdentityDeps): void {
  const pub = { config: { public: true } };
  const jwks = async () => deps.keys.jwks();
  app.get('/api/v1/auth/jwks', pub, jwks);
  app.get('/.well-known/jwks.json', pub, jwks);

  app.post('/api/v1/auth/login', pub, async (req) => login(deps, req.body, req.ip));
  app.post('/api/v1/auth/mfa', pub, async (req) => completeMfaLogin(deps, req.body));
  app.post('/api/v1/auth/refresh', pub, async (req) => refreshSession(deps, req.body));
  app.post('/api/v1/auth/logout', pub, async (req, reply) => {
    await logout(deps, req.body, req.headers.authorization);
    return reply.code(204).send();
  });
  app.get('/api/v1/auth/me', async (req) => me(deps, actorOf(req)));

  app.post('/api/v1/auth/mfa/enroll', pub, async (req) => enrollMfa(deps, callOf(req)));
  app.post('/api/v1/auth/mfa/confirm', pub, async (req, reply) => {
    const result = await confirmMfa(deps, callOf(req), req.body);
    if (result.replayed) reply.header('Idempotent-Replayed', 'true');
    return reply.code(result.status).send(result.body);
  });
  app.post('/api/v1/auth/mfa/disable', async (req, reply) =>
    sendWrite(reply, await disableMfa(deps, actorOf(req), callOf(req), req.body)),
  );

  app.post('/api/v1/signup', pub, async (req, reply) => reply.code(201).send(await signup(deps, callOf(req), req.body)));
}
