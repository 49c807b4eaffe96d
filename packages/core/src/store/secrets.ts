import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { InvalidInputError } from '../errors.js';
import type { CkptEvent, SealedValue, VariableSet } from '../fold/events.js';
import type { PlainValue } from '../fold/plain.js';
import type { CheckpointState } from '../fold/state.js';
import { decodePayload, encodePayload } from '../log/codec.js';
import type { JobIdentity } from '../log/identity.js';

/**
 * Sensitive values never reach the disk in clear. With a key (option `secretKey`, or the
 * CKPT_SECRET_KEY environment variable in the CLI) they are sealed with AES-256-GCM; without
 * one they are not persisted at all (`redacted`) and must be supplied again on restart.
 */

/** A 32-byte key for sealing sensitive values of one job. */
export interface SecretKey {
  readonly bytes: Uint8Array;
}

/**
 * Derives the key from what the user supplied: `base64:<44 chars>` is a raw 32-byte key;
 * anything else is a passphrase stretched with scrypt, salted per job identity.
 */
export function deriveSecretKey(secret: string, identity: JobIdentity): SecretKey {
  if (secret.length === 0)
    throw new InvalidInputError('the secret key is empty', { hint: 'set CKPT_SECRET_KEY to a passphrase or base64:<32 bytes>' });
  if (secret.startsWith('base64:')) {
    const bytes = Buffer.from(secret.slice(7), 'base64');
    if (bytes.length !== 32) {
      throw new InvalidInputError(`a base64 secret key must decode to 32 bytes, not ${bytes.length}`, {
        hint: "generate one with: node -e \"console.log('base64:'+crypto.randomBytes(32).toString('base64'))\"",
      });
    }
    return { bytes };
  }
  const salt = createHash('sha256').update(`ckpt sensitive v1\0${identity.kind}\0${identity.id}`).digest();
  return { bytes: scryptSync(secret, salt, 32, { N: 1 << 14, r: 8, p: 1 }) };
}

function aad(identity: JobIdentity, name: string): Buffer {
  return Buffer.from(`${identity.kind}\0${identity.id}\0${name}`);
}

/**
 * The form of `event` that may be written: a sensitive variable's value sealed (with a key) or
 * dropped (`redacted`, without one). Other events are returned as they are.
 */
export function sealSensitive(event: CkptEvent, identity: JobIdentity, key: SecretKey | undefined): CkptEvent {
  if (event.type !== 'variable-set' || !event.sensitive || event.value === undefined) return event;
  const { value, ...rest } = event;
  if (key === undefined) return { ...rest, redacted: true } satisfies VariableSet;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
  cipher.setAAD(aad(identity, event.name));
  const data = Buffer.concat([cipher.update(encodePayload(value)), cipher.final()]);
  const sealed: SealedValue = { alg: 'aes-256-gcm', iv, tag: cipher.getAuthTag(), data };
  return { ...rest, sealed } satisfies VariableSet;
}

/** A variable's value for the runner: known, or needed again from the user. */
export type RevealedVariable =
  | { readonly status: 'known'; readonly value: PlainValue | undefined; readonly valueType?: string; readonly sensitive: boolean }
  | { readonly status: 'missing'; readonly valueType?: string; readonly reason: string };

/**
 * Every recorded variable with its value, sealed ones decrypted with `key`. Redacted ones (and
 * sealed ones without a key) are `missing`. A key that does not open a sealed value throws.
 */
export function revealVariables(state: CheckpointState, identity: JobIdentity, key: SecretKey | undefined): ReadonlyMap<string, RevealedVariable> {
  const result = new Map<string, RevealedVariable>();
  for (const [name, record] of state.variables) {
    const valueType = record.valueType !== undefined ? { valueType: record.valueType } : {};
    if (record.redacted) {
      result.set(name, { status: 'missing', ...valueType, reason: 'it is sensitive and was not persisted (no secret key was set)' });
    } else if (record.sealed !== undefined) {
      if (key === undefined) {
        result.set(name, { status: 'missing', ...valueType, reason: 'it is sealed and no secret key is set' });
        continue;
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.bytes, record.sealed.iv);
        decipher.setAAD(aad(identity, name));
        decipher.setAuthTag(record.sealed.tag);
        const clear = Buffer.concat([decipher.update(record.sealed.data), decipher.final()]);
        result.set(name, { status: 'known', value: decodePayload(clear) as PlainValue, ...valueType, sensitive: true });
      } catch (error) {
        throw new InvalidInputError(`the secret key does not open the sealed value of variable "${name}"`, {
          cause: error,
          hint: 'use the key the checkpoint was written with (CKPT_SECRET_KEY), or supply the value again with --set',
        });
      }
    } else {
      result.set(name, { status: 'known', value: record.value, ...valueType, sensitive: record.sensitive });
    }
  }
  return result;
}
