import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../errors.js';
import { HASH_ALGORITHMS, isHashAlgorithm, LEGACY_HASH, type HashAlgorithm } from '../transfer/chain-hash.js';
import type { FramedConnection } from './framed-connection.js';
import type { Netmap, NetmapNode } from './netmap.js';

/**
 * Mutual challenge-response authentication (docs/protocol.md). Each side sends a fresh 32-byte
 * nonce; each proves its own netmap secret with an HMAC-SHA256 over both nonces and both names:
 *
 *     proof(role) = HMAC(secret_of_role, "ckpt/1" 0 role 0 clientNonce 0 serverNonce 0 client 0 server)
 *
 * No secret crosses the wire; a recorded handshake cannot be replayed because the other side's
 * nonce is new each time (and the server also refuses a client nonce that completed a handshake
 * recently).
 */
export const PROTOCOL = 'ckpt/1';
/** How long a client waits for each handshake answer. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a server gives a peer to complete the whole handshake, by default. */
export const SERVER_HANDSHAKE_TIMEOUT_MS = 5_000;

function proof(secret: Buffer, role: 'client' | 'server', clientNonce: string, serverNonce: string, client: string, server: string): string {
  return createHmac('sha256', secret).update([PROTOCOL, role, clientNonce, serverNonce, client, server].join('\0')).digest('hex');
}

function sameProof(a: unknown, b: string): boolean {
  if (typeof a !== 'string' || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const isNonce = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);

/** What a client learns of the node in the handshake. */
interface PeerCapabilities {
  /**
   * The chain hashes the node knows, from its `ready` (revision 5); SHA-256 alone for a node
   * of an older revision, whose `ready` has no `algorithms`.
   */
  readonly hashes: readonly HashAlgorithm[];
}

/** The `algorithms` of a `ready`: the known names among them (a later revision may list more), SHA-256 when absent. */
function hashesOf(ready: Record<string, unknown>): readonly HashAlgorithm[] {
  const listed = ready['algorithms'];
  if (!Array.isArray(listed)) return [LEGACY_HASH];
  const known = listed.filter(isHashAlgorithm);
  return known.includes(LEGACY_HASH) ? known : [...known, LEGACY_HASH];
}

/** Client side: proves `self` to `server` and checks the server's proof; returns what the node announced. */
export async function authenticateClient(connection: FramedConnection, self: NetmapNode, server: NetmapNode): Promise<PeerCapabilities> {
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
  connection.authenticated(server.name);
  return { hashes: hashesOf(ready) };
}

/**
 * Client nonces of handshakes that completed recently, to refuse a replayed hello. A nonce is
 * remembered only once the client's proof has checked: a hello costs the server nothing it keeps,
 * so unauthenticated peers cannot grow this cache (issue 12, item 8).
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs = 10 * 60_000) {}
  /** Forgets nonces older than the window (oldest first: the map keeps insertion order). */
  private expire(now: number): void {
    for (const [key, at] of this.seen) {
      if (now - at <= this.windowMs) break;
      this.seen.delete(key);
    }
  }
  /** True when `nonce` completed a handshake within the window. */
  has(nonce: string, now = Date.now()): boolean {
    this.expire(now);
    return this.seen.has(nonce);
  }
  /** Remembers the nonce of a handshake whose proof checked. */
  remember(nonce: string, now = Date.now()): void {
    this.expire(now);
    this.seen.set(nonce, now);
  }
  /** Nonces remembered (for monitoring and tests). */
  get size(): number {
    return this.seen.size;
  }
}

/**
 * Server side: checks the client's proof and proves `self`. Returns the client's node.
 *
 * An unknown node name and a wrong proof end the same way, after the same messages: the server
 * answers every well-formed hello with a challenge (its own proof needs only its own secret) and
 * refuses at the `auth` step with one message, so a peer cannot learn which names the netmap holds.
 */
export async function authenticateServer(
  connection: FramedConnection,
  self: NetmapNode,
  netmap: Netmap,
  nonces: NonceCache,
  /** The whole handshake must complete within this. */
  timeoutMs = SERVER_HANDSHAKE_TIMEOUT_MS,
): Promise<NetmapNode> {
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const refuse = async (message: string): Promise<never> => {
    await connection.sendControl({ op: 'error', code: 'auth', message }).catch(() => undefined);
    connection.end();
    throw new AuthenticationError(message);
  };
  const hello = await connection.receiveControl(remaining());
  if (
    hello.op !== 'hello' ||
    hello['protocol'] !== PROTOCOL ||
    !isNonce(hello['nonce']) ||
    typeof hello['node'] !== 'string' ||
    hello['node'].length > 256
  ) {
    return refuse(`expected a ${PROTOCOL} hello`);
  }
  const claimed = hello['node'];
  if (hello['peer'] !== undefined && hello['peer'] !== self.name)
    return refuse(`this is node ${self.name}, not ${JSON.stringify(String(hello['peer']).slice(0, 64))}`);
  const known = netmap.nodes.get(claimed);
  const client = known !== undefined && known.name !== self.name ? known : undefined;
  const clientNonce = hello['nonce'];
  if (nonces.has(clientNonce)) return refuse('replayed handshake');
  const serverNonce = randomBytes(32).toString('hex');
  await connection.sendControl({
    op: 'challenge',
    node: self.name,
    nonce: serverNonce,
    proof: proof(self.secret, 'server', clientNonce, serverNonce, claimed, self.name),
  });
  const auth = await connection.receiveControl(remaining());
  // An unknown name is checked against a secret nobody has, so both failures take the same path.
  const secret = client?.secret ?? UNKNOWN_NODE_SECRET;
  if (
    auth.op !== 'auth' ||
    !sameProof(auth['proof'], proof(secret, 'client', clientNonce, serverNonce, claimed, self.name)) ||
    client === undefined
  ) {
    return refuse(`node ${JSON.stringify(claimed.slice(0, 64))} failed to prove its secret (unknown to node ${self.name}, or a wrong secret)`);
  }
  nonces.remember(clientNonce);
  // The chain hashes this node knows (revision 5): a client picks one before its request.
  await connection.sendControl({ op: 'ready', algorithms: HASH_ALGORITHMS });
  connection.authenticated(client.name);
  return client;
}

/** The key an unknown node's proof is checked against: random, held by no one. */
const UNKNOWN_NODE_SECRET = randomBytes(32);
