import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CsvRecord, CsvReader, csvCell } from '../../src/import-export/csv.ts';

function readAll(chunks: Buffer[], limits = {}): CsvRecord[] {
  const r = new CsvReader(limits);
  const out: CsvRecord[] = [];
  for (const c of chunks) out.push(...r.push(c));
  out.push(...r.end());
  return out;
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}

describe('CsvReader', () => {
  it('reads what csvCell writes, however the bytes are split into chunks', () => {
    const cell = fc.string({ unit: fc.constantFrom('a', 'é', '😀', ',', '"', '\n', '\r', ' ', 'x', '=') });
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(400)), (rows, cuts) => {
        // A record of empty cells would be a blank line; keep each record non-blank.
        const records = rows.map((r) => (r.join('') === '' ? ['a', r[1]] : r));
        const text = records.map((r) => r.map((c) => csvCell(c, false)).join(',')).join('\r\n');
        const got = readAll(split(Buffer.from(text), cuts));
        expect(got.map((g) => (g.ok ? g.cells : g.message))).toEqual(records);
      }),
      { numRuns: 300 },
    );
  });

  it('counts physical lines for records that span several', () => {
    const got = readAll([Buffer.from('a,b\n"x\ny",z\nq,r\n')]);
    expect(got.map((g) => [g.record, g.line])).toEqual([
      [1, 1],
      [2, 2],
      [3, 4],
    ]);
  });

  it('limits the number of fields', () => {
    const got = readAll([Buffer.from('a,b,c,d\n')], { maxFields: 3 });
    expect(got[0]).toMatchObject({ ok: false, message: 'has more than 3 fields' });
  });
});
