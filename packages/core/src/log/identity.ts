import { isPlainObject } from '../fold/plain.js';

/**
 * Who a checkpoint belongs to. A checkpoint of one identity is never used for another: the
 * runner kind, the job's id and version, and a hash of the job's structure must all match.
 */
export interface JobIdentity {
  /** The runner kind, e.g. `control-flow`, `file-transfer`. */
  readonly kind: string;
  /** The job's id (a package id, a transfer's destination, ...). */
  readonly id: string;
  readonly version: string;
  /** Hash of the job's structure (see `hashStructure`). */
  readonly structureHash: string;
}

/** Reads an identity decoded from a header; `undefined` when it is not one. */
export function parseIdentity(value: unknown): JobIdentity | undefined {
  if (!isPlainObject(value)) return undefined;
  const { kind, id, version, structureHash } = value;
  if (typeof kind !== 'string' || typeof id !== 'string' || typeof version !== 'string' || typeof structureHash !== 'string') {
    return undefined;
  }
  return { kind, id, version, structureHash };
}

/** Whether two identities are the same job. */
export function sameIdentity(a: JobIdentity, b: JobIdentity): boolean {
  return a.kind === b.kind && a.id === b.id && a.version === b.version && a.structureHash === b.structureHash;
}
