import { InvalidInputError } from '@ckpt/core/internal';

/** A store URL, parsed: what the client connects with, the schema, and what messages name. */
export interface StoreUrl {
  /** The URL without ckpt's own parameters, for the client. */
  readonly connectionString: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The schema (namespace) of ckpt's tables: `ckpt` unless `?schema=NAME`. */
  readonly schema: string;
  /** Bound on connecting, ms: libpq's `connect_timeout` (seconds) when given, else the default. */
  readonly connectTimeoutMs: number;
}

/** Connecting gives up after this long when the URL does not say (`connect_timeout`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Whether `url` names a PostgreSQL store (`postgres://` or `postgresql://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Parses a libpq-style URL (`postgres://user:password@host:port/database?schema=NAME`). The
 * schema name is checked here (it is quoted into SQL), and a password is never repeated in an
 * error message.
 */
export function parseStoreUrl(url: string): StoreUrl {
  if (!isPostgresUrl(url)) {
    throw new InvalidInputError(`store URL "${redact(url)}" is not a postgres:// or postgresql:// URL`, {
      hint: 'use postgres://user@host:5432/database (schema ckpt unless ?schema=NAME)',
    });
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new InvalidInputError(`store URL "${redact(url)}" is not a valid URL`, { cause: error, hint: 'use postgres://user@host:5432/database' });
  }
  const schema = parsed.searchParams.get('schema') ?? 'ckpt';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new InvalidInputError(`store URL: schema "${schema}" is not a plain lower-case SQL name`, {
      hint: 'use letters a-z, digits and _ (at most 63), starting with a letter or _',
    });
  }
  parsed.searchParams.delete('schema');
  const timeout = parsed.searchParams.get('connect_timeout');
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  if (timeout !== null) {
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new InvalidInputError(`store URL: connect_timeout "${timeout}" is not a positive number of seconds`);
    }
    connectTimeoutMs = seconds * 1000;
    parsed.searchParams.delete('connect_timeout');
  }
  const host = decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, '')) || parsed.searchParams.get('host') || 'localhost';
  const port = parsed.port !== '' ? Number(parsed.port) : 5432;
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  return { connectionString: parsed.toString(), host, port, database, schema, connectTimeoutMs };
}

/** The URL with its password replaced by `***`, for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
