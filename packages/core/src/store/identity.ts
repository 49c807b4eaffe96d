import { createHash } from 'node:crypto';
import type { JobIdentity } from '../log/identity.js';

/** Canonical JSON: object keys sorted, so equal structures hash equally whatever their key order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/**
 * SHA-256 (hex) of a job's structure, given as JSON-like data. Runners pass what defines
 * restart units (step ids, nesting, kinds), not values that may change between attempts.
 */
export function hashStructure(structure: unknown): string {
  return createHash('sha256').update(canonical(structure)).digest('hex');
}

/** Builds a {@link JobIdentity}, hashing `structure`. */
export function createIdentity(fields: {
  readonly kind: string;
  readonly id: string;
  readonly version: string | number;
  readonly structure: unknown;
}): JobIdentity {
  return { kind: fields.kind, id: fields.id, version: String(fields.version), structureHash: hashStructure(fields.structure) };
}
