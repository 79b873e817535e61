import { describe, expect, it } from 'vitest';
import { api, ApiError } from '../src/api/client.ts';
import { getSession, refreshDelay, refreshSession, setSessionFromTokens } from '../src/api/session.ts';
import { mockApi } from './fixtures.tsx';

const user = { id: 'u1', email: 'a@b.c', name: 'A', role: 'admin', organizationId: 'o1' };

describe('session', () => {
  it('refreshes a minute before expiry, or at 80% of a short lifetime', () => {
    const now = 1_000_000;
    expect(refreshDelay({ accessToken: 'a', refreshToken: 'r', expiresAt: now + 900_000, user }, now)).toBe(840_000);
    expect(refreshDelay({ accessToken: 'a', refreshToken: 'r', expiresAt: now + 30_000, user }, now)).toBe(24_000);
    expect(refreshDelay({ accessToken: 'a', refreshToken: 'r', expiresAt: now - 1, user }, now)).toBe(0);
  });

  it('rotates the refresh token and stores the new pair', async () => {
    setSessionFromTokens({ accessToken: 'a1', refreshToken: 'r1', expiresIn: 900, user });
    const calls = mockApi((c) => (c.url === '/api/v1/auth/refresh' ? { body: { accessToken: 'a2', refreshToken: 'r2', expiresIn: 900, user } } : undefined));
    const s = await refreshSession();
    expect(s?.accessToken).toBe('a2');
    expect(calls[0].body).toEqual({ refreshToken: 'r1' });
    expect(JSON.parse(localStorage.getItem('basalt.session')!).refreshToken).toBe('r2');
  });

  it('uses the tokens another tab already rotated instead of reusing the old one', async () => {
    setSessionFromTokens({ accessToken: 'a1', refreshToken: 'r1', expiresIn: 900, user });
    localStorage.setItem('basalt.session', JSON.stringify({ accessToken: 'a9', refreshToken: 'r9', expiresAt: Date.now() + 900_000, user }));
    const calls = mockApi(() => undefined);
    const s = await refreshSession();
    expect(s?.refreshToken).toBe('r9');
    expect(calls).toHaveLength(0);
  });

  it('retries a request once with a fresh token after a 401, then signs out if refresh is refused', async () => {
    setSessionFromTokens({ accessToken: 'old', refreshToken: 'r1', expiresIn: 900, user });
    let refreshes = 0;
    const calls = mockApi((c) => {
      if (c.url === '/api/v1/auth/refresh') {
        refreshes++;
        return refreshes === 1 ? { body: { accessToken: 'new', refreshToken: 'r2', expiresIn: 900, user } } : { status: 401, body: { code: 'unauthenticated' } };
      }
      if (c.headers.authorization === 'Bearer new') return { body: { ok: true } };
      return { status: 401, body: { code: 'unauthenticated', detail: 'expired' } };
    });
    expect((await api('/api/v1/accounts')).data).toEqual({ ok: true });
    expect(calls.map((c) => c.headers.authorization ?? 'refresh')).toEqual(['Bearer old', 'refresh', 'Bearer new']);

    setSessionFromTokens({ accessToken: 'stale', refreshToken: 'r2', expiresIn: 900, user });
    await expect(api('/api/v1/accounts')).rejects.toBeInstanceOf(ApiError);
    expect(getSession()).toBeNull();
  });

  it('sends If-Match and an Idempotency-Key on writes', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    const calls = mockApi(() => ({ body: { id: 'x', version: 2 } }));
    await api('/api/v1/accounts/x', { method: 'PATCH', body: { name: 'n' }, ifMatch: 1 });
    expect(calls[0].headers['if-match']).toBe('"1"');
    expect(calls[0].headers['idempotency-key']).toMatch(/^[0-9a-f-]{32,36}$/);
  });
});
