// One file over ~400 lines on purpose: an independent reader of docs/log-format.md, read top to
// bottom against the doc; splitting it would invite sharing code with the reader it checks.
import { crc32 } from 'node:zlib';

/**
 * An independent reader of checkpoint files, written from docs/log-format.md alone, for tests:
 * it imports nothing of @ckpt/core (not its framing, codec, scan or fold) and decodes msgpack
 * itself, so that when it agrees with ckpt the doc is what made it agree. Section names in
 * the comments are the doc's. Not exported from the package.
 */

/** One entry of an accepted file, in order. */
export type SpecEntry =
  | { readonly kind: 'epoch'; readonly seq: number; readonly offset: number; readonly epoch: Record<string, unknown> }
  | {
      readonly kind: 'event';
      readonly seq: number;
      readonly offset: number;
      readonly index: number;
      readonly event: Record<string, unknown>;
    }
  | { readonly kind: 'snapshot'; readonly seq: number; readonly offset: number; readonly state: Record<string, unknown> };

/** What the doc says a reader makes of a file. */
export type SpecReading =
  | {
      readonly kind: 'accepted';
      readonly entries: readonly SpecEntry[];
      /** X: where a writer truncates a torn tail; the file's length when there is none. */
      readonly validEnd: number;
    }
  | { readonly kind: 'refused'; readonly offset: number; readonly reason: string };

/** Options of {@link readBySpec}. */
export interface SpecReaderOptions {
  /**
   * Events of a namespace with no reducer: `refuse` (a writer) or `accept` (read-only
   * commands). This reader registers no reducer.
   */
  readonly unknownNamespaces?: 'refuse' | 'accept';
}

const MAGIC = [0x89, 0x43, 0x4b, 0x50, 0x54, 0x0d, 0x0a, 0x1a];
const FRAME = 28;
const MAX_PAYLOAD = 16_777_216;
const BUDGET_FLOOR = 67_108_864;
const MAX_DEPTH = 64;

class Refusal extends Error {}

function refuse(reason: string): never {
  throw new Refusal(reason);
}

/** Reads `bytes` (a whole checkpoint file) by the doc's rules. */
export function readBySpec(bytes: Uint8Array, options: SpecReaderOptions = {}): SpecReading {
  const F = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number) => view.getUint32(at, true);
  // "64-bit fields are read as IEEE-754 doubles: high × 2^32 + low".
  const u64 = (at: number) => view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true);

  // §Header: the checks, in order.
  if (F < 8 || MAGIC.some((b, i) => bytes[i] !== b)) return refused(0, 'magic');
  if (F < 44) return refused(F, 'truncated header');
  // "version: 1 or 2" (2 is written; 1 is read by the same rules).
  const version = view.getUint16(8, true);
  if (version < 1 || version > 2) return refused(8, 'version');
  const headerLength = view.getUint16(10, true);
  if (headerLength < 44 || headerLength > 4096) return refused(10, 'header length');
  if (F < headerLength) return refused(F, 'truncated header');
  if (crc32(bytes.subarray(0, headerLength - 4)) !== u32(headerLength - 4)) return refused(headerLength - 4, 'header crc');
  if (u32(12) !== 0) return refused(12, 'flags');
  const saltCrc = crc32(bytes.subarray(16, 24));
  const firstSeq = u64(24);

  // §Records: well-framed.
  const wellFramed = (p: number): boolean => {
    if (p + FRAME > F) return false;
    const length = u32(p);
    if (length > MAX_PAYLOAD || p + FRAME + length > F) return false;
    const type = bytes[p + 8]!;
    if (type !== 1 && type !== 2 && type !== 3) return false;
    if (bytes[p + 9] !== 0 || bytes[p + 10] !== 0 || bytes[p + 11] !== 0) return false;
    return crc32(bytes.subarray(p + 8, p + FRAME + length), saltCrc) === u32(p + 4);
  };

  // §Reading and recovery: the walk.
  const records: { offset: number; type: number; seq: number; payload: Uint8Array }[] = [];
  let p = headerLength;
  let expected = firstSeq;
  let previousMark = 0;
  while (p < F) {
    if (!wellFramed(p)) break;
    const seq = u64(p + 12);
    const mark = u64(p + 20);
    if (seq !== expected || mark > p || mark < previousMark) break;
    const end = p + FRAME + u32(p);
    records.push({ offset: p, type: bytes[p + 8]!, seq, payload: bytes.subarray(p + FRAME, end) });
    expected = seq + 1;
    previousMark = mark;
    p = end;
  }
  const X = p;

  // §The search, exactly.
  if (X < F) {
    let budget = Math.max(BUDGET_FLOOR, 8 * F);
    for (let q = X + 1; q + FRAME <= F; q++) {
      if (bytes[q + 9] !== 0 || bytes[q + 10] !== 0 || bytes[q + 11] !== 0) continue;
      const mark = u64(q + 20);
      if (!(X < mark && mark <= q)) continue;
      const length = u32(q);
      if (q + FRAME + length > F) continue;
      budget -= FRAME + length;
      if (budget < 0) return refused(X, 'search budget exhausted');
      if (wellFramed(q) && u64(q + 12) >= expected) return refused(X, `record at ${q} proves ${X} durable`);
    }
  }

  // §The order of the checks: the identity, then the payloads.
  try {
    const identity = decodePayload(bytes.subarray(40, headerLength - 4));
    if (!isMap(identity) || !['kind', 'id', 'version', 'structureHash'].every((k) => typeof identity[k] === 'string')) {
      refuse('identity fields');
    }
  } catch (error) {
    if (error instanceof Refusal) return refused(40, `identity: ${error.message}`);
    throw error;
  }

  const entries: SpecEntry[] = [];
  const fold = new SpecFold(options.unknownNamespaces ?? 'refuse');
  let E = 0;
  for (const [position, record] of records.entries()) {
    try {
      const payload = decodePayload(record.payload);
      if (record.type === 1) {
        if (!isMap(payload) || typeof payload['epoch'] !== 'number' || !Number.isFinite(payload['epoch'])) refuse('malformed epoch');
        if (payload['epoch'] <= E) refuse('epoch does not increase');
        E = payload['epoch'];
        entries.push({ kind: 'epoch', seq: record.seq, offset: record.offset, epoch: payload });
      } else if (record.type === 3) {
        if (position !== 0) refuse('snapshot not first');
        if (!isMap(payload) || typeof payload['epoch'] !== 'number' || !Number.isFinite(payload['epoch'])) refuse('malformed snapshot');
        fold.restore(payload['state']);
        E = payload['epoch'];
        entries.push({ kind: 'snapshot', seq: record.seq, offset: record.offset, state: payload['state'] as Record<string, unknown> });
      } else {
        if (!Array.isArray(payload) || payload.length === 0) refuse('events record not a non-empty array');
        payload.forEach((event: unknown, index) => {
          fold.apply(event);
          entries.push({ kind: 'event', seq: record.seq, offset: record.offset, index, event: event as Record<string, unknown> });
        });
      }
    } catch (error) {
      if (error instanceof Refusal) return refused(record.offset, `record ${record.seq}: ${error.message}`);
      throw error;
    }
  }
  return { kind: 'accepted', entries, validEnd: X };
}

function refused(offset: number, reason: string): SpecReading {
  return { kind: 'refused', offset, reason };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

// §Decoding payloads.

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes exactly one msgpack value by the doc's rules; throws a Refusal otherwise. */
export function decodePayload(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > bytes.length) refuse('truncated msgpack value');
  };
  const uint = (n: 1 | 2 | 4): number => {
    need(n);
    const v = n === 1 ? bytes[pos]! : n === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += n;
    return v;
  };
  const container = (depth: number) => {
    if (depth >= MAX_DEPTH) refuse(`nested ${MAX_DEPTH} deep`);
  };
  const str = (n: number) => {
    need(n);
    const s = utf8.decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const bin = (n: number, depth: number) => {
    container(depth);
    need(n);
    const b = bytes.slice(pos, pos + n);
    pos += n;
    return b;
  };
  const ext = (n: number) => {
    need(1 + n);
    const type = bytes[pos]!;
    pos += 1 + n;
    if (type !== 0) refuse(`extension type ${type}`);
    return undefined;
  };
  const array = (n: number, depth: number) => {
    container(depth);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(read(depth + 1));
    return out;
  };
  const map = (n: number, depth: number) => {
    container(depth);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const raw = read(depth + 1);
      let key: string;
      if (typeof raw === 'string') key = raw === '__proto__' ? '__proto_' : raw;
      else if (raw === null || raw === undefined || typeof raw === 'number' || typeof raw === 'boolean') key = String(raw);
      else refuse('a map key that is a binary, array or map');
      out[key] = read(depth + 1);
    }
    return out;
  };
  const read = (depth: number): unknown => {
    need(1);
    const b = bytes[pos++]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b <= 0x8f) return map(b & 0x0f, depth);
    if (b <= 0x9f) return array(b & 0x0f, depth);
    if (b <= 0xbf) return str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc1:
        return refuse('byte c1');
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bin(uint(1), depth);
      case 0xc5:
        return bin(uint(2), depth);
      case 0xc6:
        return bin(uint(4), depth);
      case 0xc7:
        return ext(uint(1));
      case 0xc8:
        return ext(uint(2));
      case 0xc9:
        return ext(uint(4));
      case 0xca: {
        need(4);
        const v = view.getFloat32(pos);
        pos += 4;
        return v;
      }
      case 0xcb: {
        need(8);
        const v = view.getFloat64(pos);
        pos += 8;
        return v;
      }
      case 0xcc:
        return uint(1);
      case 0xcd:
        return uint(2);
      case 0xce:
        return uint(4);
      case 0xcf: {
        need(8);
        const v = view.getUint32(pos) * 2 ** 32 + view.getUint32(pos + 4);
        pos += 8;
        return v;
      }
      case 0xd0: {
        need(1);
        return view.getInt8(pos++);
      }
      case 0xd1: {
        need(2);
        const v = view.getInt16(pos);
        pos += 2;
        return v;
      }
      case 0xd2: {
        need(4);
        const v = view.getInt32(pos);
        pos += 4;
        return v;
      }
      case 0xd3: {
        need(8);
        const v = view.getInt32(pos) * 2 ** 32 + view.getUint32(pos + 4);
        pos += 8;
        return v;
      }
      case 0xd4:
        return ext(1);
      case 0xd5:
        return ext(2);
      case 0xd6:
        return ext(4);
      case 0xd7:
        return ext(8);
      case 0xd8:
        return ext(16);
      case 0xd9:
        return str(uint(1));
      case 0xda:
        return str(uint(2));
      case 0xdb:
        return str(uint(4));
      case 0xdc:
        return array(uint(2), depth);
      case 0xdd:
        return array(uint(4), depth);
      case 0xde:
        return map(uint(2), depth);
      default:
        return map(uint(4), depth);
    }
  };
  const value = read(0);
  if (pos !== bytes.length) refuse('trailing bytes after the value');
  return value;
}

// §The fold: which events are refused; §The snapshot state.

const CORE = new Set([
  'attempt-started',
  'attempt-ended',
  'unit-started',
  'unit-completed',
  'unit-failed',
  'cursor-set',
  'variable-set',
  'config-captured',
  'scope-opened',
  'scope-committed',
  'scope-aborted',
]);

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const absentOrNil = (v: unknown) => v === undefined || v === null;
const isInteger53 = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 2 ** 53 - 1;

/** The part of the fold state the refusals depend on. */
class SpecFold {
  private lastAttempt = 0;
  private lastEnded = false;
  private hasAttempt = false;
  /** Open scopes and their parents. */
  private scopes = new Map<string, unknown>();
  private configCaptured = false;

  constructor(private readonly unknownNamespaces: 'refuse' | 'accept') {}

  apply(event: unknown): void {
    if (!isMap(event) || typeof event['type'] !== 'string') refuse('an event must be a map with a string type');
    const type = event['type'];
    if (!CORE.has(type)) {
      if (type.indexOf('/') <= 0) refuse(`unknown event type ${type}`);
      if (this.unknownNamespaces === 'refuse') refuse(`no reducer for ${type}`);
      return;
    }
    const e = event;
    const nonEmpty = (field: string) => {
      if (!isNonEmptyString(e[field])) refuse(`${type}: ${field}`);
      return e[field] as string;
    };
    const optionalNonEmpty = (field: string) => {
      if (!absentOrNil(e[field]) && !isNonEmptyString(e[field])) refuse(`${type}: ${field}`);
    };
    const optionalFinite = (field: string) => {
      const v = e[field];
      if (!absentOrNil(v) && !(typeof v === 'number' && Number.isFinite(v))) refuse(`${type}: ${field}`);
    };
    const scopeReference = () => {
      optionalNonEmpty('scope');
      if (!absentOrNil(e['scope']) && !this.scopes.has(e['scope'] as string)) refuse(`${type}: scope not open`);
    };
    const errorInfo = (required: boolean) => {
      const v = e['error'];
      if (v === undefined && !required) return;
      if (!isMap(v) || typeof v['message'] !== 'string') refuse(`${type}: error`);
      if (v['code'] !== undefined && typeof v['code'] !== 'string') refuse(`${type}: error.code`);
    };
    optionalFinite('at');
    switch (type) {
      case 'attempt-started':
        if (!isInteger53(e['attempt'], 1) || e['attempt'] !== this.lastAttempt + 1) refuse('attempt-started: attempt');
        optionalFinite('pid');
        optionalFinite('retentionMs');
        optionalNonEmpty('host');
        this.lastAttempt = e['attempt'] as number;
        this.hasAttempt = true;
        this.lastEnded = false;
        return;
      case 'attempt-ended':
        if (!isInteger53(e['attempt'], 1)) refuse('attempt-ended: attempt');
        if (!['success', 'failure', 'interrupted'].includes(e['outcome'] as string)) refuse('attempt-ended: outcome');
        errorInfo(false);
        if (!this.hasAttempt || this.lastAttempt !== e['attempt'] || this.lastEnded) refuse('attempt-ended: not the current attempt');
        this.lastEnded = true;
        return;
      case 'unit-started':
        nonEmpty('unit');
        scopeReference();
        return;
      case 'unit-completed':
        nonEmpty('unit');
        if (!['success', 'failure'].includes(e['outcome'] as string)) refuse('unit-completed: outcome');
        scopeReference();
        return;
      case 'unit-failed':
        nonEmpty('unit');
        errorInfo(true);
        scopeReference();
        return;
      case 'cursor-set':
        nonEmpty('unit');
        if (!('cursor' in e)) refuse('cursor-set: cursor');
        scopeReference();
        return;
      case 'variable-set': {
        nonEmpty('name');
        scopeReference();
        optionalNonEmpty('valueType');
        if (e['valueType'] === 'object') refuse('variable-set: object');
        const sensitive = e['sensitive'] === true;
        const redacted = e['redacted'] === true;
        const sealed = e['sealed'] !== undefined;
        if (sensitive && (e['value'] !== undefined || sealed === redacted)) refuse('variable-set: sensitive');
        if (!sensitive && (sealed || redacted)) refuse('variable-set: not sensitive');
        if (sealed) {
          const s = e['sealed'];
          if (!isMap(s) || s['alg'] !== 'aes-256-gcm' || !['iv', 'tag', 'data'].every((k) => s[k] instanceof Uint8Array)) {
            refuse('variable-set: sealed');
          }
        }
        return;
      }
      case 'config-captured':
        if (!isMap(e['config']) || this.configCaptured) refuse('config-captured');
        this.configCaptured = true;
        return;
      case 'scope-opened': {
        const scope = nonEmpty('scope');
        nonEmpty('kind');
        optionalNonEmpty('parent');
        if (this.scopes.has(scope)) refuse('scope-opened: already open');
        if (!absentOrNil(e['parent']) && !this.scopes.has(e['parent'] as string)) refuse('scope-opened: parent');
        this.scopes.set(scope, absentOrNil(e['parent']) ? undefined : e['parent']);
        return;
      }
      case 'scope-committed': {
        const scope = nonEmpty('scope');
        if (!this.scopes.has(scope) || [...this.scopes.values()].includes(scope)) refuse('scope-committed');
        this.scopes.delete(scope);
        return;
      }
      default: {
        const scope = nonEmpty('scope');
        if (!this.scopes.has(scope)) refuse('scope-aborted');
        const closed = new Set([scope]);
        for (let grew = true; grew; ) {
          grew = false;
          for (const [id, parent] of this.scopes) {
            if (!closed.has(id) && closed.has(parent as string)) {
              closed.add(id);
              grew = true;
            }
          }
        }
        for (const id of closed) this.scopes.delete(id);
      }
    }
  }

  restore(state: unknown): void {
    if (!isMap(state) || state['v'] !== 1) refuse('snapshot: v');
    if (!isInteger53(state['eventCount'], 0)) refuse('snapshot: eventCount');
    const attempts = state['attempts'];
    if (!Array.isArray(attempts) || !attempts.every((a) => isMap(a) && typeof a['attempt'] === 'number')) refuse('snapshot: attempts');
    const byString = (value: unknown, key: string) => Array.isArray(value) && value.every((r) => isMap(r) && typeof r[key] === 'string');
    for (const field of ['completed', 'running', 'failed', 'cursors']) if (!byString(state[field], 'unit')) refuse(`snapshot: ${field}`);
    if (!byString(state['variables'], 'name')) refuse('snapshot: variables');
    if (state['config'] !== null && !isMap(state['config'])) refuse('snapshot: config');
    const scopes = state['scopes'];
    if (!Array.isArray(scopes)) refuse('snapshot: scopes');
    for (const s of scopes) {
      if (!isMap(s) || typeof s['scope'] !== 'string' || typeof s['kind'] !== 'string') refuse('snapshot: scope');
      if (!byString(s['completed'], 'unit') || !byString(s['cursors'], 'unit')) refuse('snapshot: scope entries');
      if (s['variables'] !== undefined && !byString(s['variables'], 'name')) refuse('snapshot: scope variables');
    }
    const named = new Set(scopes.map((s: Record<string, unknown>) => s['scope']));
    for (const s of scopes)
      if (s['parent'] !== undefined && (typeof s['parent'] !== 'string' || !named.has(s['parent']))) refuse('snapshot: scope parent');
    if (!byString(state['extensions'], 'namespace')) refuse('snapshot: extensions');
    const last = attempts.at(-1) as Record<string, unknown> | undefined;
    this.hasAttempt = last !== undefined;
    this.lastAttempt = (last?.['attempt'] as number | undefined) ?? 0;
    this.lastEnded = last !== undefined && last['outcome'] !== undefined;
    this.scopes = new Map(scopes.map((s: Record<string, unknown>) => [s['scope'] as string, s['parent']]));
    this.configCaptured = isMap(state['config']);
  }
}

// §Encoding payloads: what ckpt writes, byte for byte.

/** Bytes spliced verbatim into {@link encodeBySpec}'s output (for crafted test files). */
export class RawMsgpack {
  constructor(readonly bytes: Uint8Array) {}
}

/** Map entries in a given order, keys written as given (even `__proto__`). */
export class MsgpackEntries {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

const utf8Encoder = new TextEncoder();

/** Encodes `value` as the doc says ckpt writes it. */
export function encodeBySpec(value: unknown): Uint8Array {
  const out: number[] = [];
  const be = (n: number, size: 1 | 2 | 4) => {
    for (let i = size - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  };
  const head = (n: number, fix: number | undefined, fixLimit: number, c8: number | undefined, c16: number, c32: number) => {
    if (fix !== undefined && n < fixLimit) out.push(fix + n);
    else if (c8 !== undefined && n < 0x100) out.push(c8, n);
    else if (n < 0x1_0000) out.push(c16), be(n, 2);
    else out.push(c32), be(n, 4);
  };
  const write = (v: unknown): void => {
    if (v instanceof RawMsgpack) out.push(...v.bytes);
    else if (v === undefined) out.push(0xd4, 0, 0);
    else if (v === null) out.push(0xc0);
    else if (v === true) out.push(0xc3);
    else if (v === false) out.push(0xc2);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
        if (v < 0x80) out.push(v);
        else if (v < 0x100) out.push(0xcc, v);
        else if (v < 0x1_0000) out.push(0xcd), be(v, 2);
        else out.push(0xce), be(v, 4);
      } else if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) {
        if (v >= -32) out.push(0x100 + v);
        else if (v >= -0x80) out.push(0xd0, 0x100 + v);
        else if (v >= -0x8000) out.push(0xd1), be(0x1_0000 + v, 2);
        else out.push(0xd2), be(2 ** 32 + v, 4);
      } else {
        const b = new DataView(new ArrayBuffer(8));
        b.setFloat64(0, v);
        out.push(0xcb, ...new Uint8Array(b.buffer));
      }
    } else if (typeof v === 'string') {
      const bytes = utf8Encoder.encode(v);
      head(bytes.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
      out.push(...bytes);
    } else if (v instanceof Uint8Array) {
      head(v.length, undefined, 0, 0xc4, 0xc5, 0xc6);
      out.push(...v);
    } else if (Array.isArray(v)) {
      head(v.length, 0x90, 16, undefined, 0xdc, 0xdd);
      for (const item of v) write(item);
    } else if (v instanceof MsgpackEntries || typeof v === 'object') {
      const entries = v instanceof MsgpackEntries ? v.entries : Object.entries(v).filter(([, x]) => x !== undefined);
      head(entries.length, 0x80, 16, undefined, 0xde, 0xdf);
      for (const [key, x] of entries) {
        write(key);
        write(x);
      }
    } else throw new TypeError(`cannot encode a ${typeof v}`);
  };
  write(value);
  return Uint8Array.from(out);
}

/** One record of a crafted file. */
export interface CraftedRecord {
  readonly type: number;
  readonly payload: Uint8Array;
  /** Default: the previous record's seq + 1 (firstSeq for the first). */
  readonly seq?: number;
  /** Default 0. */
  readonly mark?: number;
}

/** Frames a header and records as the doc describes (for crafted test files). */
export function craftFile(fields: {
  /** The header's format version; default 2. */
  readonly version?: number;
  readonly identity?: Uint8Array;
  readonly firstSeq?: number;
  readonly salt?: Uint8Array;
  readonly records: readonly CraftedRecord[];
}): { readonly bytes: Uint8Array; readonly offsets: readonly number[]; readonly headerLength: number } {
  const identity = fields.identity ?? encodeBySpec({ kind: 'spec', id: 'crafted', version: '1', structureHash: 'h' });
  const salt = fields.salt ?? Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  const headerLength = 44 + identity.length;
  const total = headerLength + fields.records.reduce((n, r) => n + FRAME + r.payload.length, 0);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const setU64 = (at: number, v: number) => {
    view.setUint32(at, v % 2 ** 32, true);
    view.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
  };
  bytes.set(MAGIC, 0);
  view.setUint16(8, fields.version ?? 2, true);
  view.setUint16(10, headerLength, true);
  bytes.set(salt, 16);
  const firstSeq = fields.firstSeq ?? 1;
  setU64(24, firstSeq);
  bytes.set(identity, 40);
  view.setUint32(headerLength - 4, crc32(bytes.subarray(0, headerLength - 4)), true);
  let p = headerLength;
  let seq = firstSeq;
  const offsets: number[] = [];
  for (const record of fields.records) {
    offsets.push(p);
    seq = record.seq ?? seq;
    view.setUint32(p, record.payload.length, true);
    bytes[p + 8] = record.type;
    setU64(p + 12, seq);
    setU64(p + 20, record.mark ?? 0);
    bytes.set(record.payload, p + FRAME);
    view.setUint32(p + 4, crc32(bytes.subarray(p + 8, p + FRAME + record.payload.length), crc32(salt)), true);
    p += FRAME + record.payload.length;
    seq++;
  }
  return { bytes, offsets, headerLength };
}

/** Frames one record at `p` inside `bytes` (a crafted candidate), with `salt`'s CRC seed. */
export function frameAt(bytes: Uint8Array, p: number, record: Required<CraftedRecord>, salt: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(p, record.payload.length, true);
  bytes[p + 8] = record.type;
  bytes[p + 9] = bytes[p + 10] = bytes[p + 11] = 0;
  view.setUint32(p + 12, record.seq % 2 ** 32, true);
  view.setUint32(p + 16, Math.floor(record.seq / 2 ** 32), true);
  view.setUint32(p + 20, record.mark % 2 ** 32, true);
  view.setUint32(p + 24, Math.floor(record.mark / 2 ** 32), true);
  bytes.set(record.payload, p + FRAME);
  view.setUint32(p + 4, crc32(bytes.subarray(p + 8, p + FRAME + record.payload.length), crc32(salt)), true);
  return p + FRAME + record.payload.length;
}
