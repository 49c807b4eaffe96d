import { connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { InterruptedError } from '@ckpt/core';
import { AuthenticationError, TransferError } from '../errors.js';
import {
  DEFAULT_HASH,
  LEGACY_HASH,
  loadChainAlgorithm,
  type ChainAlgorithm,
  type ChainPosition,
  type HashAlgorithm,
} from '../transfer/chain-hash.js';
import { LocalSource } from '../transfer/local-source.js';
import {
  receiveFile,
  type ReceiveJob,
  type TransferEvent,
  type TransferProgress,
  type TransferResult,
  type VerifyMode,
} from '../transfer/receiver.js';
import { FramedConnection, type ControlMessage } from './framed-connection.js';
import { authenticateClient } from './handshake.js';
import { parseDoneResult, parsePeerEvent, parseSourceAnswer } from './answers.js';
import type { NetmapNode } from './netmap.js';
import { errorFromPeer, RemoteSource, serveSource } from './remote-source.js';

/** What a push or pull needs. */
export interface RemoteTransferOptions {
  readonly self: NetmapNode;
  readonly peer: NetmapNode;
  readonly interval: number;
  readonly verify: VerifyMode;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: TransferEvent) => void;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly retry?: ReceiveJob['retry'];
  readonly retentionMs?: number;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** Bytes per second: a pull receives, a push sends no faster (a node does not throttle what it serves). */
  readonly rateLimit?: number;
  /** Compress data frames with DEFLATE (for slow links; offsets stay source offsets). */
  readonly compress?: boolean;
  /** Publish with the source's mode and modification time. */
  readonly preserve?: boolean;
  /** The chain hash (default xxh3; SHA-256, with a warning, when the node is of a revision before 5). */
  readonly hash?: HashAlgorithm;
}

/** An authenticated connection, and the chain hash this transfer uses with that node. */
interface Session {
  readonly connection: FramedConnection;
  readonly hash: HashAlgorithm;
  /** What the node can hash (its `ready`). */
  readonly hashes: readonly HashAlgorithm[];
}

/**
 * Connects, authenticates both ways, and picks the chain hash: the one asked for when the node
 * knows it, else SHA-256 (which every node knows), said in a `transfer/warning`. Falling back
 * never weakens the check: SHA-256 is the cryptographic one; only the speed differs.
 */
export async function openSession(options: RemoteTransferOptions): Promise<Session> {
  const { peer } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  // A peer whose entry has `tls` is reached over TLS; its certificate must chain to `tls.ca` (or
  // the system roots). The host name is not checked: the HMAC handshake proves which node it is.
  // Plain TCP reads straight into the frames' memory (`onread`), which matters for a pull.
  const named = { node: peer.name, address: `${peer.host}:${peer.port}` };
  const connection = peer.tls
    ? new FramedConnection(
        connectTls({ host: peer.host, port: peer.port, ...(peer.tls.ca && { ca: peer.tls.ca }), checkServerIdentity: () => undefined }),
        idleTimeoutMs,
        named,
      )
    : new FramedConnection((onread) => connect({ host: peer.host, port: peer.port, onread }), idleTimeoutMs, named);
  const socket = connection.socket;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TransferError(`cannot reach node ${peer.name} at ${peer.host}:${peer.port} (timed out)`));
    }, options.connectTimeoutMs ?? 10_000);
    socket.once(peer.tls ? 'secureConnect' : 'connect', () => (clearTimeout(timer), resolve()));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // A certificate that does not verify will not verify on retry either: a refusal.
      if (peer.tls && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(error.code ?? '')) {
        reject(
          new AuthenticationError(`node ${peer.name}'s TLS certificate is not trusted (${error.code})`, {
            hint: `check tls.ca of node ${peer.name} in the netmap`,
          }),
        );
        return;
      }
      reject(new TransferError(`cannot reach node ${peer.name} at ${peer.host}:${peer.port} (${error.code ?? error.message})`, { cause: error }));
    });
  });
  const onAbort = () => connection.destroy();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  socket.once('close', () => options.signal?.removeEventListener('abort', onAbort));
  let hashes: readonly HashAlgorithm[];
  try {
    ({ hashes } = await authenticateClient(connection, options.self, peer));
  } catch (error) {
    connection.destroy();
    throw error;
  }
  const asked = options.hash ?? DEFAULT_HASH;
  const hash = hashes.includes(asked) ? asked : LEGACY_HASH;
  if (hash !== asked)
    options.onEvent?.({
      type: 'transfer/warning',
      message: `node ${peer.name} knows only the chain hash ${hashes.join(', ')} (an older ckpt): this copy is checked with ${hash}; upgrade ckpt on ${peer.name} for ${asked}, or pass --hash ${hash}`,
    });
  return { connection, hash, hashes };
}

/** Local → node: this side sends; the peer receives and keeps the checkpoint records. */
export async function pushFile(localPath: string, remotePath: string, options: RemoteTransferOptions): Promise<TransferResult> {
  const source = new LocalSource(localPath, true);
  // The node will ask for chains of the hash picked below: XXH3's WebAssembly compiles meanwhile.
  const hashLoaded = loadChainAlgorithm(options.hash ?? DEFAULT_HASH);
  hashLoaded.catch(() => undefined); // awaited below, once the source is described
  try {
    // A missing source, or a hash that cannot load, is refused before connecting: the node records nothing.
    const info = await source.describe();
    await hashLoaded;
    const { connection, hash } = await openSession(options);
    try {
      if (options.retry) options.onEvent?.({ type: 'transfer/retry', ...options.retry });
      await connection.sendControl({
        op: 'put',
        path: remotePath,
        size: info.size,
        fingerprint: info.fingerprint,
        interval: options.interval,
        verify: options.verify,
        // Named even when SHA-256: the node then knows this client hashes with any (revision 5).
        algorithm: hash,
        ...(options.compress && { compress: true }),
        ...(info.mode !== undefined && { mode: info.mode }),
        ...(options.preserve && { preserve: true }),
      });
      // The node's events, checked (a malformed one fails the push), are reported as they come.
      const relay = (message: ControlMessage) => {
        const event = parsePeerEvent(message, options.peer.name);
        if (event) options.onEvent?.(event);
      };
      let sent = 0;
      const counting = {
        describe: () => source.describe(),
        hashRange: source.hashRange.bind(source),
        close: async () => undefined,
        stream: async (from: ChainPosition, interval: number, at: number, algorithm: ChainAlgorithm) => {
          const stream = await source.stream(from, interval, at, algorithm);
          const began = Date.now();
          async function* chunks(): AsyncGenerator<Uint8Array> {
            for await (const chunk of stream.chunks) {
              sent += chunk.length;
              options.onProgress?.({ offset: at + sent, size: info.size, resumedFrom: at, sent });
              yield chunk;
              // The node's events (its durable checkpoints) are reported as they come, not after the last byte.
              for (let message; (message = connection.takeReceivedControl('event')); ) relay(message);
              if (options.rateLimit) {
                const due = began + (sent / options.rateLimit) * 1000;
                if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
              }
            }
          }
          return { chunks: chunks(), digest: stream.digest };
        },
      };
      // Serve the receiver's requests (hash, send) until it reports done or an error.
      for (;;) {
        let last;
        try {
          last = await serveSource(connection, counting, options.signal);
        } catch (error) {
          if (options.signal?.aborted) throw new InterruptedError('the copy was interrupted');
          throw error;
        }
        if (last.op === 'done') return parseDoneResult(last, info.size, options.peer.name);
        if (last.op === 'event') {
          relay(last);
          continue;
        }
        throw errorFromPeer(last, options.peer.name);
      }
    } finally {
      connection.end();
      connection.destroy();
    }
  } finally {
    await source.close();
  }
}

/** Node → local: the peer sends; this side receives and keeps the checkpoint records. */
export async function pullFile(remotePath: string, destination: string, options: RemoteTransferOptions): Promise<TransferResult> {
  const { connection, hash, hashes } = await openSession(options);
  try {
    await connection.sendControl({ op: 'get', path: remotePath });
    const answer = await connection.receiveControl();
    if (answer.op !== 'source')
      throw errorFromPeer(answer.op === 'error' ? answer : { op: 'error', message: `unexpected "${answer.op}"` }, options.peer.name);
    // What the node says of its file is recorded in this side's checkpoint: checked first.
    const { size, fingerprint, mode } = parseSourceAnswer(answer, options.peer.name);
    const source = new RemoteSource(
      connection,
      { size, fingerprint, ...(mode !== undefined && { mode }) },
      options.peer.name,
      undefined,
      options.compress === true,
      hashes,
    );
    const result = await receiveFile(
      {
        destination,
        source,
        interval: options.interval,
        verify: options.verify,
        hash,
        ...(options.preserve && { preserve: true }),
        ...(options.retry && { retry: options.retry }),
        ...(options.rateLimit !== undefined && { rateLimit: options.rateLimit }),
      },
      {
        ...(options.onEvent && { onEvent: options.onEvent }),
        ...(options.onProgress && { onProgress: options.onProgress }),
        ...(options.signal && { signal: options.signal }),
        ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
      },
    );
    await connection.sendControl({ op: 'bye' }).catch(() => undefined);
    return result;
  } finally {
    connection.end();
  }
}
