import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/**
 * Ids of everything Basalt writes: UUIDv7, time-ordered and, within one process, strictly
 * increasing (a counter seeded at random each millisecond, as the uuid package does when it
 * draws its own random bytes), so new rows land at the right edge of their primary key
 * index. The random bits come from a pool refilled 4 kB at a time from the CSPRNG, as Node's
 * own randomUUID() does: one getrandom call per 256 ids instead of one per id (several ids
 * per request, a million per imported million rows; the per-id call showed in the server's
 * CPU profile). Each byte is used once.
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;
let lastMs = Number.NEGATIVE_INFINITY;
let seq = 0;

export function newId(): string {
  if (offset + 16 > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.subarray(offset, offset + 16);
  offset += 16;
  const now = Date.now();
  if (now > lastMs) {
    // 31 random bits: room for 2^31 more ids in this millisecond before it borrows the next.
    seq = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9];
    lastMs = now;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq });
}
