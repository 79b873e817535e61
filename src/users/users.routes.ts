import type { FastifyInstance } from 'fastify';
import type { IdentityDeps } from '../auth/auth.service.ts';
import { actorOf, headerOf } from '../http/request-context.ts';
import { requestCtx, sendWrite } from '../records/records.routes.ts';
import { etag, parseIfMatch } from '../records/records.service.ts';
import { getOrganization, patchOrganization } from './organization.service.ts';
import { createTeam, listTeams } from './teams.service.ts';
import { createUser, getUser, listUsers, patchUser } from './users.service.ts';

/** Users, teams and the organization's settings. */
export function registerUserRoutes(app: FastifyInstance, deps: IdentityDeps): void {
  const ctx = (req: Parameters<typeof requestCtx>[0]) => requestCtx(req, deps.writeDeadlineMs);

  app.post('/api/v1/users', async (req, reply) => sendWrite(reply, await createUser(deps, ctx(req), req.body)));
  app.get('/api/v1/users', async (req) => listUsers(deps.pool, actorOf(req), req.query as Record<string, unknown>));
  app.get<{ Params: { id: string } }>('/api/v1/users/:id', async (req, reply) => {
    const user = await getUser(deps.pool, actorOf(req), req.params.id);
    if ('version' in user) reply.header('ETag', etag(user.version));
    return user;
  });
  app.patch<{ Params: { id: string } }>('/api/v1/users/:id', async (req, reply) =>
    sendWrite(reply, await patchUser(deps, ctx(req), req.params.id, req.body, parseIfMatch(headerOf(req, 'if-match')))),
  );

  app.post('/api/v1/teams', async (req, reply) => sendWrite(reply, await createTeam(deps, ctx(req), req.body)));
  app.get('/api/v1/teams', async (req) => listTeams(deps.pool, actorOf(req)));

  app.get('/api/v1/organization', async (req) => getOrganization(deps.pool, actorOf(req)));
  app.patch('/api/v1/organization', async (req, reply) => sendWrite(reply, await patchOrganization(deps, ctx(req), req.body)));
}
