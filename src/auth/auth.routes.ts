import type { FastifyInstance } from 'fastify';
import { withTenant } from '../db/session.ts';
import { validationError } from '../http/errors.ts';
import { isPlainObject } from '../records/record-shape.ts';
import { type AuthDeps, issueTokens, toPublicUser, unauthenticated } from './auth.service.ts';
import { burnPasswordCheck, verifyPassword } from './passwords.ts';

export function registerAuthRoutes(app: FastifyInstance, deps: AuthDeps): void {
  const jwks = async () => deps.keys.jwks();
  app.get('/api/v1/auth/jwks', { config: { public: true } }, jwks);
  app.get('/.well-known/jwks.json', { config: { public: true } }, jwks);

  app.post('/api/v1/auth/login', { config: { public: true } }, async (req) => {
    const body = req.body;
    if (!isPlainObject(body) || typeof body.email !== 'string' || typeof body.password !== 'string') {
      throw validationError([{ path: '', message: 'send { "email": string, "password": string }' }]);
    }
    const found = await deps.pool.query('SELECT * FROM basalt_find_login($1)', [body.email.slice(0, 320)]);
    const ref = found.rows[0];
    if (!ref) {
      await burnPasswordCheck(body.password);
      throw unauthenticated('Wrong email or password.');
    }
    if (ref.status !== 'active' || !(await verifyPassword(ref.password_hash, body.password))) {
      throw unauthenticated('Wrong email or password.');
    }
    return withTenant(deps.pool, { orgId: ref.organization_id }, async (client) => {
      const res = await client.query('UPDATE users SET last_login_at = now() WHERE id = $1 RETURNING *', [ref.id]);
      return issueTokens(deps, client, toPublicUser(res.rows[0]));
    });
  });
}
