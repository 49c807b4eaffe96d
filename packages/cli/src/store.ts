/**
 * Which store a verb works on: `--store URL`, else `$CKPT_STORE`, else files. The verbs use the
 * store through core's port (`CheckpointStore`) and never ask which adapter they got; this
 * module is the one place that maps a URL to an adapter.
 */
import { hostname } from 'node:os';
import { FileStore, InvalidInputError, type CheckpointStore, type OwnerClaim, type StoreAdapterModule } from '@ckpt/core';

/** URL schemes of the PostgreSQL adapter. */
const POSTGRES_SCHEMES = ['postgres:', 'postgresql:'];

/**
 * How each adapter is loaded, by the name {@link adapterOf} returns. The verbs' tests put an
 * in-memory adapter here; nothing else changes it.
 */
export const storeAdapters: { postgres: () => Promise<StoreAdapterModule> } = {
  // Loaded only when a postgres URL is given: the bundle makes it a chunk of its own (with its
  // client), so no other verb, and no `ckpt --version`, reads it.
  postgres: async () => (await import('@ckpt/postgres')) satisfies StoreAdapterModule,
};

/** The store URL a verb uses: `--store`, else `$CKPT_STORE`; undefined (files) when neither is set or both are empty. */
export function storeUrlOf(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = option ?? env['CKPT_STORE'];
  return url === undefined || url === '' ? undefined : url;
}

/**
 * `url` with its password masked (`postgres://app:***@db:5432/jobs`), for every message that
 * names a store: the user part of the authority and a `password=` parameter are hidden, also in
 * text that does not parse as a URL.
 */
export function maskStoreUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, '$1:***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** Where a store URL points, for messages: the scheme and the accepted ones. */
function refuseScheme(url: string, scheme: string | undefined): never {
  throw new InvalidInputError(
    `store ${maskStoreUrl(url)}: ${scheme === undefined ? 'not a URL' : `unknown scheme "${scheme}//"`}; the accepted schemes are postgres:// and postgresql:// (PostgreSQL)`,
    { hint: 'give --store (or $CKPT_STORE) as postgres://USER@HOST:PORT/DATABASE[?schema=NAME], or leave both unset to keep checkpoints in files' },
  );
}

/** Checks a store URL's scheme; returns the adapter that serves it. Refuses (exit 2) anything else. */
export function adapterOf(url: string): 'postgres' {
  let scheme: string | undefined;
  try {
    scheme = new URL(url).protocol.toLowerCase();
  } catch {
    scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(url)?.[1]?.toLowerCase();
    if (scheme === undefined || !POSTGRES_SCHEMES.includes(scheme)) refuseScheme(url, scheme);
    // A postgres URL the WHATWG parser rejects (a bracketed list of hosts, say): the adapter reads it.
  }
  if (!POSTGRES_SCHEMES.includes(scheme)) refuseScheme(url, scheme);
  return 'postgres';
}

/**
 * The store at `url` (files when undefined). The PostgreSQL adapter is imported here, lazily, so
 * that no other verb (nor `ckpt --version`) loads it or its client.
 */
export async function connectStore(url: string | undefined): Promise<CheckpointStore> {
  if (url === undefined) return new FileStore();
  adapterOf(url);
  const adapter = await storeAdapters.postgres();
  try {
    return await adapter.connectStore(url);
  } catch (error) {
    throw scrubPassword(error, url);
  }
}

/**
 * Removes `url`'s password from an error's message and stack, should an adapter or its client
 * have quoted it: a store URL's password is never printed.
 */
export function scrubPassword(error: unknown, url: string): unknown {
  if (!(error instanceof Error)) return error;
  let password: string | undefined;
  try {
    const parsed = new URL(url);
    password = parsed.password !== '' ? parsed.password : (parsed.searchParams.get('password') ?? undefined);
  } catch {
    password = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^/?#]*)@/i.exec(url)?.[1];
  }
  if (password === undefined || password === '') return error;
  const secrets = new Set([password, safeDecode(password)]);
  const scrub = (text: string) => [...secrets].reduce((out, secret) => out.split(secret).join('***'), text.split(url).join(maskStoreUrl(url)));
  error.message = scrub(error.message);
  if (error.stack !== undefined) error.stack = scrub(error.stack);
  return error;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Runs `work` on the store at `url` and closes it afterwards, whatever happens. */
export async function withStore<T>(url: string | undefined, work: (store: CheckpointStore) => Promise<T>): Promise<T> {
  const store = await connectStore(url);
  try {
    return await work(store);
  } catch (error) {
    throw url === undefined ? error : scrubPassword(error, url);
  } finally {
    await store.close();
  }
}

/** The owner a run claims: `$CKPT_HOST` (so two "machines" can be simulated on one), else the host name, and this pid. */
export function ownerClaim(env: NodeJS.ProcessEnv = process.env): OwnerClaim {
  const host = env['CKPT_HOST'];
  return { host: host !== undefined && host !== '' ? host : hostname(), pid: process.pid };
}
