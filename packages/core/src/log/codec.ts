import { Packr, Unpackr } from 'msgpackr';
import { findNonPlain } from '../fold/plain.js';
import { isPlainQuick } from './plain-fast.js';

/**
 * msgpack encoding of record payloads. Standard msgpack only: no record structures, no
 * structured-clone references, no extension types on disk. Decoding treats the bytes as
 * untrusted: msgpackr bounds every allocation by the bytes that remain and renames a
 * `__proto__` key to `__proto_`, and {@link decodePayload} then refuses anything that is not
 * plain data (msgpackr's built-in extensions would otherwise turn crafted bytes into Sets,
 * RegExps or Errors).
 */
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  // Properties whose value is undefined are left out, not written as msgpack extension 0.
  skipValues: [undefined],
} as ConstructorParameters<typeof Packr>[0] & { skipValues: unknown[] });

const unpackr = new Unpackr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'number',
});

/** Encodes a payload. Throws a TypeError for values that are not plain data. */
export function encodePayload(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes a payload; throws an Error describing the problem when the bytes are not plain msgpack. */
export function decodePayload(bytes: Uint8Array): unknown {
  const value: unknown = unpackr.unpack(bytes);
  if (isPlainQuick(value, 0, false)) return value;
  const bad = findNonPlain(value, 'payload');
  if (bad !== undefined) throw new Error(bad);
  return value;
}
