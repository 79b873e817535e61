import { Readable } from 'node:stream';
import type { Actor } from '../auth/actor.ts';
import { requirePermission } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { beginSql, withTenant } from '../db/session.ts';
import { AppError } from '../http/errors.ts';
import { columnOf } from '../objects/definitions.ts';
import { loadObject, type ResolvedField } from '../objects/registry.ts';
import { listScope, orderAndKeyset, parseListQuery } from '../records/list-query.ts';
import { fieldValue } from '../records/record-shape.ts';
import { csvCell } from './csv.ts';

/**
 * Export: the list query (same filters, sort, fields, deleted) read through a server-side
 * cursor, FETCH by FETCH, into a stream that only pulls the next batch when the client
 * has taken the last one. Memory stays flat at any size, and the cursor reads one
 * consistent snapshot.
 */

export type ExportFormat = 'csv' | 'ndjson';
export const FETCH_SIZE = 2000;

const ESCAPED_TYPES = new Set(['text', 'textarea', 'email', 'phone', 'url', 'picklist']);

export interface PreparedExport {
  format: ExportFormat;
  contentType: string;
  filename: string;
  stream: Readable;
}

export async function prepareExport(pool: Pool, actor: Actor, object: string, query: Record<string, unknown>): Promise<PreparedExport> {
  requirePermission(actor, object, 'read');
  const { format: rawFormat, ...listQuery } = query;
  let format: ExportFormat = 'csv';
  if (rawFormat !== undefined) {
    if (rawFormat !== 'csv' && rawFormat !== 'ndjson') {
      throw new AppError('validation_failed', 'format must be csv or ndjson.', [{ path: 'format', message: 'must be csv or ndjson' }]);
    }
    format = rawFormat;
  }
  for (const p of ['limit', 'cursor']) {
    if (p in listQuery) {
      throw new AppError('validation_failed', `An export streams every matching record; ${p} does not apply.`, [{ path: p, message: 'not accepted by export' }]);
    }
  }
  // Validates filters and sort before the first byte goes out (afterwards only a broken stream could tell).
  const obj = await withTenant(pool, actor, (c) => loadObject(c, object), { readOnly: true });
  const q = parseListQuery(obj, listQuery);
  const fields = [...obj.fields.values()].filter((f) => (q.only ? q.only.has(f.name) : true));
  const { where, params, param } = listScope(q, actor.orgId);
  const { orderBy } = orderAndKeyset({ ...q, cursor: null }, param);
  const columns = new Map<string, string>();
  for (const f of fields) {
    if (f.custom) columns.set('custom', 't.custom');
    else {
      const c = columnOf(f);
      // Timestamps leave the database as the API writes them (RFC 3339 UTC, milliseconds
      // truncated like a JS Date): the server, the export's bottleneck, skips parsing each into
      // a Date and formatting it back; PostgreSQL has a core to spare while it streams.
      columns.set(c, f.type === 'datetime' ? `to_char(t.${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${c}` : `t.${c}`);
    }
  }
  const sql = `SELECT ${[...columns.values()].join(', ')} FROM ${obj.def.table} t WHERE ${where.join(' AND ')} ORDER BY ${orderBy}`;

  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  return {
    format,
    contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    filename: `${object}-${stamp}.${format === 'csv' ? 'csv' : 'ndjson'}`,
    stream: Readable.from(rows(pool, actor, fields, sql, params, format), { objectMode: false }),
  };
}

async function* rows(
  pool: Pool,
  actor: Actor,
  fields: ResolvedField[],
  sql: string,
  params: unknown[],
  format: ExportFormat,
): AsyncGenerator<string> {
  const escapeFormula = fields.map((f) => ESCAPED_TYPES.has(f.type));
  const jsonKeys = fields.map((f, i) => `${i === 0 ? '{' : ','}${JSON.stringify(f.name)}:`);
  if (format === 'csv') yield `${fields.map((f) => csvCell(f.name, true)).join(',')}\r\n`;
  const client = await pool.connect();
  let broken: Error | undefined;
  let ended = false;
  try {
    await client.query(beginSql(actor, true));
    await client.query(`DECLARE basalt_export NO SCROLL CURSOR FOR ${sql}`, params);
    for (;;) {
      const res = await client.query({ text: `FETCH ${FETCH_SIZE} FROM basalt_export` });
      if (res.rows.length === 0) break;
      let out = '';
      // Each line reads its cells straight from the row: no API record per row (at millions
      // of rows the allocation shows). NDJSON lines are the API record's JSON, key for key.
      for (const row of res.rows) {
        if (format === 'ndjson') out += ndjsonLine(fields, jsonKeys, row as Record<string, unknown>);
        else out += csvLine(fields, escapeFormula, row as Record<string, unknown>);
      }
      yield out;
      if (res.rows.length < FETCH_SIZE) break;
    }
    await client.query('COMMIT');
    ended = true;
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    // The consumer may stop early (client gone): end the transaction before the connection goes back.
    if (!ended && !broken) await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))));
    client.release(broken);
  }
}

function ndjsonLine(fields: ResolvedField[], keys: string[], row: Record<string, unknown>): string {
  if (fields.length === 0) return '{}\n';
  let line = '';
  for (let i = 0; i < fields.length; i++) line += keys[i] + JSON.stringify(fieldValue(fields[i], row));
  return `${line}}\n`;
}

function csvLine(fields: ResolvedField[], escapeFormula: boolean[], row: Record<string, unknown>): string {
  let line = '';
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) line += ',';
    const v = fieldValue(fields[i], row);
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') line += csvCell(v, escapeFormula[i]);
    else if (typeof v === 'number' || typeof v === 'boolean') line += String(v);
    else if (!Array.isArray(v) && typeof v.amount === 'string' && typeof v.currency === 'string') line += `${v.amount} ${v.currency}`;
    else line += csvCell(JSON.stringify(v), true);
  }
  return `${line}\r\n`;
}
