export const ROLES = ['admin', 'manager', 'rep', 'agent', 'readonly'] as const;
export type Role = (typeof ROLES)[number];

/** Who is making a request. API keys act as the admin who created them, with the key's role. */
export interface Actor {
  kind: 'user' | 'api_key';
  orgId: string;
  userId: string;
  role: Role;
  teamId: string | null;
  apiKeyId: string | null;
}

/** Identity used to scope idempotency keys: the user, or the API key. */
export function callerId(actor: Actor): string {
  return actor.apiKeyId ?? actor.userId;
}
