import { hash, verify } from '@node-rs/argon2';

// OWASP's argon2id baseline (19 MiB, 2 passes). 2 = Algorithm.Argon2id (a const enum).
const OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (!stored) return false;
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** Spent on unknown emails too, so both answers take the same time. */
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('basalt-timing-equaliser');
  await verifyPassword(await dummyHash, password);
}

export function checkPasswordPolicy(password: unknown): string | undefined {
  if (typeof password !== 'string') return 'must be a string';
  if (password.length < 8) return 'must be at least 8 characters long';
  if (password.length > 256) return 'must be at most 256 characters long';
  if (!password.isWellFormed() || password.includes('\u0000')) return 'must be valid text';
  return undefined;
}
