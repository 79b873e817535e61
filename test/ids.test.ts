import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newId } from '../src/ids.ts';

describe('newId', () => {
  it('gives distinct, valid, time-ordered UUIDv7s across many refills of its random pool', () => {
    const before = Date.now();
    const ids = Array.from({ length: 10_000 }, () => newId());
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect('89ab').toContain(id[19]); // RFC 9562 variant
      const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // Ordered by creation: uuid keeps a monotonic sequence within a millisecond.
    expect([...ids].sort()).toEqual(ids);
    // The random tail (after the sequence) differs between consecutive ids: no byte reused.
    const tails = new Set(ids.map((id) => id.slice(24)));
    expect(tails.size).toBe(ids.length);
  });
});
