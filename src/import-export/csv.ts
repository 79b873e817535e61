import { isUtf8 } from 'node:buffer';

/**
 * A streaming RFC 4180 CSV reader that never gives up on a file because of one bad
 * record: a ragged, over-long, non-UTF-8 or unterminated record becomes an error for
 * that record and reading goes on at the next line. Works on bytes (the structural
 * characters are ASCII, which never occur inside a multi-byte UTF-8 sequence), so memory
 * is bounded by the longest record, not the file.
 */

export interface CsvLimits {
  /** Longest field, in bytes. */
  maxFieldBytes: number;
  /** Most fields in one record. */
  maxFields: number;
}

export const DEFAULT_CSV_LIMITS: CsvLimits = { maxFieldBytes: 131_072, maxFields: 500 };

export type CsvRecord =
  | { ok: true; record: number; line: number; cells: string[] }
  | { ok: false; record: number; line: number; column: number | null; message: string };

const QUOTE = 0x22;
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;

const enum_ = { fieldStart: 0, unquoted: 1, quoted: 2, quoteInQuoted: 3, skipLine: 4 } as const;
type State = (typeof enum_)[keyof typeof enum_];

/** A field as a byte range of the pending buffer (relative to the record start). */
interface FieldRange {
  start: number;
  end: number;
  escapedQuotes: boolean;
}

export class CsvReader {
  private readonly limits: CsvLimits;
  /** Bytes of the record being read (from its first byte) plus what follows. */
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private state: State = enum_.fieldStart;
  private fields: FieldRange[] = [];
  private fieldStart = 0;
  private escaped = false;
  private skipLf = false;
  private line = 1;
  private recordLine = 1;
  private record = 0;
  private error: { column: number | null; message: string } | null = null;
  private started = false;

  constructor(limits: Partial<CsvLimits> = {}) {
    this.limits = { ...DEFAULT_CSV_LIMITS, ...limits };
  }

  /** Feeds bytes; returns the records completed by them. */
  push(chunk: Buffer): CsvRecord[] {
    if (!this.started) {
      this.started = true;
      // A UTF-8 byte order mark is not part of the first header name.
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return this.scan(false);
  }

  /** End of input: the last record (even without a final newline), or an unterminated quote. */
  end(): CsvRecord[] {
    return this.scan(true);
  }

  private scan(final: boolean): CsvRecord[] {
    const out: CsvRecord[] = [];
    const buf = this.buf;
    const n = buf.length;
    const maxField = this.limits.maxFieldBytes;
    let i = this.pos;
    // Record-relative offsets are kept from the record start (recordBase), which is the
    // start of this.buf: every completed record is cut off the front.
    let recordBase = 0;
    if (this.skipLf && i < n) {
      if (buf[i] === LF) i++;
      this.skipLf = false;
      recordBase = i;
    }
    let state = this.state;
    while (i < n) {
      const c = buf[i];
      switch (state) {
        case enum_.fieldStart:
          if (c === QUOTE) {
            state = enum_.quoted;
            this.fieldStart = i + 1 - recordBase;
            this.escaped = false;
            i++;
            continue;
          }
          this.fieldStart = i - recordBase;
          state = enum_.unquoted;
          continue;
        case enum_.unquoted:
          if (c === COMMA || c === LF || c === CR) {
            this.fields.push({ start: this.fieldStart, end: i - recordBase, escapedQuotes: false });
            if (c === COMMA) {
              state = this.tooManyFields() ? enum_.skipLine : enum_.fieldStart;
              i++;
              continue;
            }
            i = this.endRecord(out, buf, recordBase, i, c);
            recordBase = i;
            state = enum_.fieldStart;
            continue;
          }
          // A quote inside an unquoted field (5'10") is taken literally, as spreadsheets do.
          if (i - recordBase - this.fieldStart >= maxField) {
            this.error ??= { column: this.fields.length + 1, message: `has a field longer than ${maxField} bytes` };
            state = enum_.skipLine;
            continue;
          }
          i++;
          continue;
        case enum_.quoted:
          if (c === QUOTE) {
            state = enum_.quoteInQuoted;
          } else if (c === LF) {
            this.line++;
          }
          if (i - recordBase - this.fieldStart >= maxField) {
            this.error ??= {
              column: this.fields.length + 1,
              message: `has a quoted field longer than ${maxField} bytes (or a quote that is never closed)`,
            };
            state = enum_.skipLine;
            continue;
          }
          i++;
          continue;
        case enum_.quoteInQuoted:
          if (c === QUOTE) {
            // "" inside quotes is one quote character.
            this.escaped = true;
            state = enum_.quoted;
            i++;
            continue;
          }
          this.fields.push({ start: this.fieldStart, end: i - 1 - recordBase, escapedQuotes: this.escaped });
          if (c === COMMA) {
            state = this.tooManyFields() ? enum_.skipLine : enum_.fieldStart;
            i++;
            continue;
          }
          if (c === LF || c === CR) {
            i = this.endRecord(out, buf, recordBase, i, c);
            recordBase = i;
            state = enum_.fieldStart;
            continue;
          }
          this.error ??= { column: this.fields.length, message: 'has characters after a closing quote; quote the whole field' };
          state = enum_.skipLine;
          continue;
        case enum_.skipLine:
          if (c === LF || c === CR) {
            i = this.endRecord(out, buf, recordBase, i, c);
            recordBase = i;
            state = enum_.fieldStart;
            continue;
          }
          i++;
          continue;
      }
    }
    this.state = state;
    if (final) {
      if (state === enum_.quoted) {
        this.error ??= { column: this.fields.length + 1, message: 'has a quote that is never closed (the file ends inside a quoted field)' };
        state = enum_.skipLine;
      } else if (state === enum_.quoteInQuoted) {
        this.fields.push({ start: this.fieldStart, end: n - 1 - recordBase, escapedQuotes: this.escaped });
      } else if (state === enum_.unquoted) {
        this.fields.push({ start: this.fieldStart, end: n - recordBase, escapedQuotes: false });
      } else if (state === enum_.fieldStart && this.fields.length > 0) {
        // "a,b," at the very end: the last field is empty.
        this.fields.push({ start: n - recordBase, end: n - recordBase, escapedQuotes: false });
      }
      if (this.fields.length > 0 || this.error) this.endRecord(out, buf, recordBase, n, LF);
      this.buf = Buffer.alloc(0);
      this.pos = 0;
      return out;
    }
    // Keep only the unfinished record; a record being skipped keeps nothing.
    if (state === enum_.skipLine) {
      this.buf = Buffer.alloc(0);
      this.pos = 0;
    } else {
      this.buf = recordBase === 0 ? buf : buf.subarray(recordBase);
      this.pos = i - recordBase;
    }
    return out;
  }

  private tooManyFields(): boolean {
    if (this.fields.length < this.limits.maxFields) return false;
    this.error ??= { column: null, message: `has more than ${this.limits.maxFields} fields` };
    return true;
  }

  /** Emits the record ending at `at` (a CR or LF), returns the index after it. */
  private endRecord(out: CsvRecord[], buf: Buffer, base: number, at: number, c: number): number {
    this.record++;
    const record = this.record;
    const line = this.recordLine;
    const fields = this.fields;
    this.fields = [];
    if (this.error) {
      out.push({ ok: false, record, line, ...this.error });
      this.error = null;
    } else if (fields.length === 1 && fields[0].end === fields[0].start) {
      // A blank line is no record.
      this.record--;
    } else {
      const cells: string[] = new Array(fields.length);
      let bad = -1;
      for (let k = 0; k < fields.length; k++) {
        const f = fields[k];
        const bytes = buf.subarray(base + f.start, base + f.end);
        // ASCII is valid UTF-8: only check when a byte has the high bit set.
        if (!isUtf8(bytes)) {
          bad = k;
          break;
        }
        const text = bytes.toString('utf8');
        cells[k] = f.escapedQuotes ? text.replaceAll('""', '"') : text;
      }
      if (bad >= 0) {
        out.push({
          ok: false,
          record,
          line,
          column: bad + 1,
          message: 'is not valid UTF-8 text (save the file as CSV UTF-8)',
        });
      } else {
        out.push({ ok: true, record, line, cells });
      }
    }
    this.line++;
    this.recordLine = this.line;
    // CRLF is one line end; a CR that ends the chunk leaves its LF to the next one.
    let next = at + 1;
    if (c === CR) {
      if (next < buf.length) {
        if (buf[next] === LF) next++;
      } else this.skipLf = true;
    }
    return next;
  }
}

/** Reads records from a byte stream, with backpressure (the stream waits while the consumer works). */
export async function* readCsv(source: AsyncIterable<Buffer | string>, limits?: Partial<CsvLimits>): AsyncGenerator<CsvRecord> {
  const reader = new CsvReader(limits);
  for await (const chunk of source) {
    const records = reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    for (const r of records) yield r;
  }
  for (const r of reader.end()) yield r;
}

/**
 * Quotes a CSV cell when needed. Text that a spreadsheet would run as a formula
 * (starting with = + - @ tab or CR) gets a leading apostrophe, the OWASP remedy for CSV
 * injection; import removes it again.
 */
export function csvCell(value: string, escapeFormula: boolean): string {
  if (escapeFormula && value.length > 0 && FORMULA_START.has(value.charCodeAt(0))) value = `'${value}`;
  if (/[",\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

/** = + - @ tab CR */
export const FORMULA_START = new Set([0x3d, 0x2b, 0x2d, 0x40, 0x09, 0x0d]);
