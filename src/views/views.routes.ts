import type { FastifyInstance } from 'fastify';
import { actorOf, headerOf } from '../http/request-context.ts';
import { requestCtx, sendWrite } from '../records/records.routes.ts';
import { etag, parseIfMatch, type RecordsDeps } from '../records/records.service.ts';
import { createView, deleteView, getView, listViews, patchView } from './views.service.ts';

export interface ViewsRouteDeps extends RecordsDeps {
  writeDeadlineMs: number;
}

/** The caller's saved list views. If-Match is optional here; a stale one is 412. */
export function registerViewRoutes(app: FastifyInstance, deps: ViewsRouteDeps): void {
  const ctx = (req: Parameters<typeof requestCtx>[0]) => requestCtx(req, deps.writeDeadlineMs);
  const ifMatch = (req: Parameters<typeof headerOf>[0]) => parseIfMatch(headerOf(req, 'if-match'));

  app.get('/api/v1/views', async (req) => listViews(deps.pool, actorOf(req), req.query as Record<string, unknown>));
  app.post('/api/v1/views', async (req, reply) => sendWrite(reply, await createView(deps, ctx(req), req.body)));
  app.get<{ Params: { id: string } }>('/api/v1/views/:id', async (req, reply) => {
    const view = await getView(deps.pool, actorOf(req), req.params.id);
    reply.header('ETag', etag(view.version));
    return view;
  });
  app.patch<{ Params: { id: string } }>('/api/v1/views/:id', async (req, reply) =>
    sendWrite(reply, await patchView(deps, ctx(req), req.params.id, req.body, ifMatch(req))),
  );
  app.delete<{ Params: { id: string } }>('/api/v1/views/:id', async (req, reply) =>
    sendWrite(reply, await deleteView(deps, ctx(req), req.params.id, ifMatch(req))),
  );
}
