import { type FieldError, validationError } from '../http/errors.ts';
import { isUuid } from '../objects/field-types.ts';
import { isPlainObject } from '../records/record-shape.ts';
import { ROLES, type Role } from './actor.ts';
import { checkPasswordPolicy } from './passwords.ts';

/**
 * Request-body readers for the identity endpoints: every field is checked, unknown fields
 * are refused, and every problem comes back at once as 400 validation_failed (never a 500,
 * whatever shape the body has).
 */

class InputProblem extends Error {}

/** Turns an unknown JSON value into T, or throws InputProblem with a message for the field. */
export type Reader<T> = (v: unknown) => T;

const ABSENT = Symbol('absent');

export function readBody<S extends Record<string, Reader<unknown>>>(
  body: unknown,
  shape: S,
): { [K in keyof S]: ReturnType<S[K]> } {
  if (!isPlainObject(body)) {
    throw validationError([{ path: '', message: `send a JSON object with ${Object.keys(shape).join(', ')}` }]);
  }
  const errors: FieldError[] = [];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(shape, key)) errors.push({ path: key, message: 'is not a known field' });
  }
  for (const [key, read] of Object.entries(shape)) {
    try {
      out[key] = read(Object.hasOwn(body, key) ? body[key] : ABSENT);
    } catch (err) {
      if (!(err instanceof InputProblem)) throw err;
      errors.push({ path: key, message: err.message });
    }
  }
  if (errors.length) throw validationError(errors);
  return out as { [K in keyof S]: ReturnType<S[K]> };
}

function present(v: unknown): void {
  if (v === ABSENT) throw new InputProblem('is required');
}

export function optional<T>(read: Reader<T>): Reader<T | undefined> {
  return (v) => (v === ABSENT ? undefined : read(v));
}

export function nullable<T>(read: Reader<T>): Reader<T | null> {
  return (v) => (v === null ? null : read(v));
}

export function text(opts: { max: number }): Reader<string> {
  return (v) => {
    present(v);
    if (typeof v !== 'string') throw new InputProblem('must be a string');
    const s = v.trim();
    if (s.length === 0) throw new InputProblem('must not be empty');
    if (s.length > opts.max) throw new InputProblem(`must be at most ${opts.max} characters`);
    if (!s.isWellFormed() || s.includes('\u0000')) throw new InputProblem('must be valid text');
    return s;
  };
}

/** A secret typed by a person (sign-in password, code): taken as sent, never trimmed. */
export function secret(max: number): Reader<string> {
  return (v) => {
    present(v);
    if (typeof v !== 'string') throw new InputProblem('must be a string');
    if (v.length === 0) throw new InputProblem('must not be empty');
    if (v.length > max) throw new InputProblem(`must be at most ${max} characters`);
    return v;
  };
}

/** A new password: the password policy applies. */
export const newPassword: Reader<string> = (v) => {
  present(v);
  const problem = checkPasswordPolicy(v);
  if (problem) throw new InputProblem(problem);
  return v as string;
};

const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

export const email: Reader<string> = (v) => {
  const s = text({ max: 320 })(v);
  if (!EMAIL.test(s)) throw new InputProblem('must be an email address');
  return s;
};

export function oneOf<T extends string>(values: readonly T[]): Reader<T> {
  return (v) => {
    present(v);
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw new InputProblem(`must be one of ${values.join(', ')}`);
    }
    return v as T;
  };
}

export const role: Reader<Role> = oneOf(ROLES);

export const uuid: Reader<string> = (v) => {
  present(v);
  if (typeof v !== 'string' || !isUuid(v)) throw new InputProblem('must be a UUID');
  return v.toLowerCase();
};

/** Any JSON value, required; its shape is checked by the caller (e.g. a saved view's definition). */
export const anyValue: Reader<unknown> = (v) => {
  present(v);
  return v;
};

export const boolean: Reader<boolean> = (v) => {
  present(v);
  if (typeof v !== 'boolean') throw new InputProblem('must be true or false');
  return v;
};

export function uniqueList<T>(read: Reader<T>, max: number): Reader<T[]> {
  return (v) => {
    present(v);
    if (!Array.isArray(v)) throw new InputProblem('must be an array');
    if (v.length > max) throw new InputProblem(`must have at most ${max} items`);
    const items = v.map((item, i) => {
      try {
        return read(item);
      } catch (err) {
        if (err instanceof InputProblem) throw new InputProblem(`item ${i} ${err.message}`);
        throw err;
      }
    });
    if (new Set(items).size !== items.length) throw new InputProblem('must not repeat items');
    return items;
  };
}

const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp in the future; returned as a UTC ISO string. */
export const futureTimestamp: Reader<string> = (v) => {
  present(v);
  if (typeof v !== 'string' || !DATETIME.test(v) || Number.isNaN(Date.parse(v))) {
    throw new InputProblem('must be an RFC 3339 timestamp, e.g. 2030-01-31T00:00:00Z');
  }
  const at = new Date(v);
  if (at.getTime() <= Date.now()) throw new InputProblem('must be in the future');
  return at.toISOString();
};
