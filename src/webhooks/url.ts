import type { FieldError } from '../http/errors.ts';

/**
 * A webhook target: absolute http(s) URL with a host, no credentials (they would leak into
 * logs and the deliveries log; put a token in the path or rely on the signature), no fragment.
 * Redirects are never followed when delivering, so the host named here is the only one called.
 */
export function checkWebhookUrl(raw: unknown): { url?: string; error?: FieldError } {
  const bad = (message: string) => ({ error: { path: '/url', message } });
  if (typeof raw !== 'string' || raw.trim() === '') return bad('is required: the http(s) URL to POST events to');
  if (raw.length > 2048) return bad('must be at most 2048 characters');
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return bad('is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`must use http or https, not ${url.protocol.replace(':', '')}`);
  if (!url.hostname) return bad('must name a host');
  if (url.username || url.password) return bad('must not contain credentials');
  if (url.hash) return bad('must not contain a fragment (#...)');
  return { url: url.toString() };
}
