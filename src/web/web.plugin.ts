import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build:web` writes the UI. */
export const WEB_DIST = path.resolve(import.meta.dirname, '../../web/dist');

/** Paths that belong to the API or operations; they never fall back to the UI. */
const NOT_UI = /^\/(api|livez|readyz|metrics|\.well-known)(\/|$)/;
/** A path whose last segment has an extension asks for a file, not a screen. */
const FILE_LIKE = /\/[^/]+\.[a-z0-9]{1,8}$/i;

// The UI keeps its tokens in the browser, so it must not run foreign script. Recharts sets
// inline style attributes, hence 'unsafe-inline' for styles only.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

function uiHeaders(reply: FastifyReply): void {
  reply.header('Content-Security-Policy', CSP);
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'same-origin');
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Basalt</title>
<p>The Basalt web UI has not been built. Run <code>npm run build:web</code> (it runs on <code>npm install</code> and before <code>npm start</code>), then reload.</p>
<p>The API is at <a href="/api/docs">/api/docs</a>.</p>`;

/**
 * Serves the built React app at `/`: hashed assets cached for good, every other non-API
 * GET answered with index.html so client-side routes survive a reload (SPA fallback).
 */
export async function registerWebUi(app: FastifyInstance, opts: { root?: string } = {}): Promise<void> {
  const root = opts.root ?? WEB_DIST;
  await app.register(fastifyStatic, { root, serve: false });

  const isFile = (rel: string) => {
    const abs = path.join(root, rel);
    if (!abs.startsWith(root + path.sep)) return false;
    try {
      return statSync(abs).isFile();
    } catch {
      return false;
    }
  };

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(req.url.split('?')[0]);
    } catch {
      return reply.callNotFound();
    }
    if (NOT_UI.test(pathname)) return reply.callNotFound();
    uiHeaders(reply);
    const rel = pathname.replace(/^\/+/, '');
    if (rel && isFile(rel)) {
      const immutable = rel.startsWith('assets/');
      return reply.sendFile(rel, { maxAge: immutable ? 365 * 86_400_000 : 0, immutable, cacheControl: true });
    }
    if (FILE_LIKE.test(pathname)) return reply.callNotFound();
    if (!existsSync(path.join(root, 'index.html'))) {
      return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    // index.html names the current hashed bundles: always revalidate it.
    return reply.header('Cache-Control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };

  app.get('/', { config: { public: true } }, handler);
  app.get('/*', { config: { public: true } }, handler);
}
