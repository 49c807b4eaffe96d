import pg from 'pg';
import { StoreUnreachableError } from './errors.js';
import type { StoreUrl } from './url.js';

/** Why a connection attempt failed, in words, from the client's or the server's error. */
function reasonOf(error: unknown, url: StoreUrl): { reason: string; hint?: string } {
  const e = error as { code?: string; message?: string };
  switch (e.code) {
    case 'ECONNREFUSED':
      return { reason: 'the connection was refused (no server listens there)' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { reason: `host "${url.host}" is not known` };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { reason: 'the host is unreachable' };
    case '28P01':
    case '28000':
      return { reason: `the server refused the login (${e.message})`, hint: "check the user and password in the URL, and the server's pg_hba.conf" };
    case '3D000':
      return { reason: `database "${url.database}" does not exist`, hint: `create it (createdb ${url.database}) or name another one in the URL` };
    case '57P03':
      return { reason: 'the server is starting up or shutting down' };
    default:
      if (/timeout/i.test(e.message ?? '')) return { reason: `no answer within the connect timeout (${url.connectTimeoutMs / 1000} s)` };
      return { reason: e.message ?? String(error) };
  }
}

/**
 * Opens one connection, bounded by the URL's connect timeout. Any failure is a
 * {@link StoreUnreachableError} naming host and port (a refusal: exit 2). TCP keepalive is on, so
 * a server that vanishes is noticed by a connection that waits.
 */
export async function connectClient(url: StoreUrl, applicationName = 'ckpt'): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url.connectionString,
    connectionTimeoutMillis: url.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // Shown in pg_stat_activity, so an operator sees which sessions are ckpt's (and whose).
    application_name: applicationName.slice(0, 63),
  });
  // Errors of an idle connection are reported to whoever owns it; never an unhandled 'error'.
  client.on('error', () => undefined);
  // pg's own connection timer does not cover every stall (a TLS or startup exchange that never
  // ends); this one does.
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('connect timeout')), url.connectTimeoutMs + 1_000);
      }),
    ]);
  } catch (error) {
    await client.end().catch(() => undefined);
    const { reason, hint } = reasonOf(error, url);
    throw new StoreUnreachableError(url.host, url.port, reason, { cause: error, ...(hint !== undefined && { hint }) });
  } finally {
    clearTimeout(timer);
  }
  return client;
}
