import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../errors.js';
import type { FramedConnection } from './framed-connection.js';
import { MAX_CONTROL_BYTES } from './framed-connection.js';
import type { Netmap, NetmapNode } from './netmap.js';

/**
 * Mutual challenge-response authentication (docs/protocol.md). Each side sends a fresh 32-byte
 * nonce; each proves its own netmap secret with an HMAC-SHA256 over both nonces and both names:
 *
 *     proof(role) = HMAC(secret_of_role, "ckpt/1" 0 role 0 clientNonce 0 serverNonce 0 client 0 server)
 *
 * No secret crosses the wire; a recorded handshake cannot be replayed because the other side's
 * nonce is new each time (and the server also refuses a client nonce it has seen recently).
 */
export const PROTOCOL = 'ckpt/1';
const HANDSHAKE_TIMEOUT_MS = 10_000;

function proof(secret: Buffer, role: 'client' | 'server', clientNonce: string, serverNonce: string, client: string, server: string): string {
  return createHmac('sha256', secret).update([PROTOCOL, role, clientNonce, serverNonce, client, server].join('\0')).digest('hex');
}

function sameProof(a: unknown, b: string): boolean {
  if (typeof a !== 'string' || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const isNonce = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);

/** Client side: proves `self` to `server` and checks the server's proof. */
export async function authenticateClient(connection: FramedConnection, self: NetmapNode, server: NetmapNode): Promise<void> {
  const clientNonce = randomBytes(32).toString('hex');
  await connection.sendControl({ op: 'hello', protocol: PROTOCOL, node: self.name, peer: server.name, nonce: clientNonce });
  const challenge = await connection.receiveControl(HANDSHAKE_TIMEOUT_MS);
  if (challenge.op === 'error') throw new AuthenticationError(`node ${server.name} refused the connection: ${String(challenge['message'])}`);
  if (challenge.op !== 'challenge' || !isNonce(challenge['nonce']) || challenge['node'] !== server.name) {
    throw new AuthenticationError(`node ${server.name} did not answer the handshake as node ${server.name}`);
  }
  const serverNonce = challenge['nonce'];
  if (!sameProof(challenge['proof'], proof(server.secret, 'server', clientNonce, serverNonce, self.name, server.name))) {
    throw new AuthenticationError(`node ${server.name} failed to prove its secret (wrong secret in one of the netmaps, or not the real node)`);
  }
  await connection.sendControl({ op: 'auth', proof: proof(self.secret, 'client', clientNonce, serverNonce, self.name, server.name) });
  const ready = await connection.receiveControl(HANDSHAKE_TIMEOUT_MS);
  if (ready.op === 'error') throw new AuthenticationError(`node ${server.name} refused authentication of ${self.name}: ${String(ready['message'])}`);
  if (ready.op !== 'ready') throw new AuthenticationError(`node ${server.name} sent "${ready.op}" instead of completing the handshake`);
  connection.maxControlBytes = MAX_CONTROL_BYTES;
}

/** Recently seen client nonces, to refuse a replayed hello. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs = 10 * 60_000) {}
  /** True when `nonce` is new (and remembers it). */
  admit(nonce: string, now = Date.now()): boolean {
    for (const [key, at] of this.seen) {
      if (now - at <= this.windowMs) break;
      this.seen.delete(key);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now);
    return true;
  }
}

/** Server side: checks the client's proof and proves `self`. Returns the client's node. */
export async function authenticateServer(connection: FramedConnection, self: NetmapNode, netmap: Netmap, nonces: NonceCache): Promise<NetmapNode> {
  const refuse = async (message: string): Promise<never> => {
    await connection.sendControl({ op: 'error', code: 'auth', message }).catch(() => undefined);
    connection.end();
    throw new AuthenticationError(message);
  };
  const hello = await connection.receiveControl(HANDSHAKE_TIMEOUT_MS);
  if (hello.op !== 'hello' || hello['protocol'] !== PROTOCOL || !isNonce(hello['nonce']) || typeof hello['node'] !== 'string') {
    return refuse(`expected a ${PROTOCOL} hello`);
  }
  const client = netmap.nodes.get(hello['node']);
  if (!client || client.name === self.name) return refuse(`node "${hello['node']}" is not in the netmap of ${self.name}`);
  if (hello['peer'] !== undefined && hello['peer'] !== self.name) return refuse(`this is node ${self.name}, not ${String(hello['peer'])}`);
  const clientNonce = hello['nonce'];
  if (!nonces.admit(clientNonce)) return refuse('replayed handshake');
  const serverNonce = randomBytes(32).toString('hex');
  await connection.sendControl({ op: 'challenge', node: self.name, nonce: serverNonce, proof: proof(self.secret, 'server', clientNonce, serverNonce, client.name, self.name) });
  const auth = await connection.receiveControl(HANDSHAKE_TIMEOUT_MS);
  if (auth.op !== 'auth' || !sameProof(auth['proof'], proof(client.secret, 'client', clientNonce, serverNonce, client.name, self.name))) {
    return refuse(`node ${client.name} failed to prove its secret`);
  }
  await connection.sendControl({ op: 'ready' });
  connection.maxControlBytes = MAX_CONTROL_BYTES;
  return client;
}
