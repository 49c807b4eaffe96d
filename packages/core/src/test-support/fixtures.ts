import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach } from 'vitest';
import type { CkptEvent } from '../fold/events.js';
import { createIdentity } from '../store/identity.js';

/** A fresh temporary directory per test, removed afterwards. */
export function useTempDir(prefix: string): { readonly path: string } {
  const holder = { path: '' };
  beforeEach(() => {
    holder.path = mkdtempSync(join(tmpdir(), `ckpt-${prefix}-`));
  });
  afterEach(() => rmSync(holder.path, { recursive: true, force: true }));
  return holder;
}

export const testIdentity = (id = 'job', version: number | string = 1, structure: unknown = { steps: ['a', 'b'] }) =>
  createIdentity({ kind: 'test', id, version, structure });

const unitName = fc.constantFrom('extract', 'load', 'per-region[0]/load', 'per-region[1]/load', 'publish');
const plain = fc.oneof(fc.integer(), fc.string({ maxLength: 12 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 4 }));

/** Random valid events of the core vocabulary (no attempts or scopes, which need a protocol). */
export const coreEventArb: fc.Arbitrary<CkptEvent> = fc.oneof(
  fc.record({ type: fc.constant('unit-started' as const), unit: unitName }),
  fc.record({ type: fc.constant('unit-completed' as const), unit: unitName, outcome: fc.constantFrom('success' as const, 'failure' as const) }),
  fc.record({ type: fc.constant('unit-failed' as const), unit: unitName, error: fc.record({ message: fc.string({ maxLength: 20 }) }) }),
  fc.record({ type: fc.constant('cursor-set' as const), unit: unitName, cursor: plain }),
  fc.record({
    type: fc.constant('variable-set' as const),
    name: fc.constantFrom('rows', 'day', 'path'),
    value: plain,
    valueType: fc.constantFrom('int', 'string'),
    sensitive: fc.constant(false),
  }),
);

/** A seed to pin from the environment (`CKPT_SEED=...`), so a failing run replays. */
export const pinnedSeed = (): { seed?: number } => (process.env['CKPT_SEED'] ? { seed: Number(process.env['CKPT_SEED']) } : {});
