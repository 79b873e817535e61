import { AppError } from '../http/errors.ts';
import type { Actor, Role } from './actor.ts';

/**
 * Object-level permissions per role, deny by default. Record-level visibility (owner,
 * team, sharing default) is enforced by row-level security in PostgreSQL; this table
 * decides which objects a role may touch at all.
 */
export type Permission = 'read' | 'create' | 'update' | 'delete';

const ALL: readonly Permission[] = ['read', 'create', 'update', 'delete'];
const R: readonly Permission[] = ['read'];
const CRU: readonly Permission[] = ['read', 'create', 'update'];

export const OBJECT_PERMISSIONS: Record<Role, Record<string, readonly Permission[]>> = {
  admin: { accounts: ALL, contacts: ALL, leads: ALL, opportunities: ALL, cases: ALL, activities: ALL },
  manager: { accounts: ALL, contacts: ALL, leads: ALL, opportunities: ALL, cases: ALL, activities: ALL },
  rep: { accounts: ALL, contacts: ALL, leads: ALL, opportunities: ALL, cases: R, activities: ALL },
  agent: { accounts: R, contacts: CRU, leads: [], opportunities: R, cases: ALL, activities: ALL },
  readonly: { accounts: R, contacts: R, leads: R, opportunities: R, cases: R, activities: R },
};

export function can(actor: Actor, object: string, permission: Permission): boolean {
  return OBJECT_PERMISSIONS[actor.role][object]?.includes(permission) ?? false;
}

export function requirePermission(actor: Actor, object: string, permission: Permission): void {
  if (!can(actor, object, permission)) {
    throw new AppError('forbidden', `Your role (${actor.role}) may not ${permission} ${object}.`);
  }
}

export function requireAdmin(actor: Actor): void {
  if (actor.role !== 'admin') throw new AppError('forbidden', 'Only administrators may do this.');
}
