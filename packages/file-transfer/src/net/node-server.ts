import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { InvalidInputError, pruneCheckpoints, type PruneReport } from '@ckpt/core';
import { transferCompanions, TRANSFER_KIND } from '../transfer/names.js';
import { LocalSource } from '../transfer/local-source.js';
import { DEFAULT_CHECKPOINT_INTERVAL, receiveFile, type TransferEvent } from '../transfer/receiver.js';
import { transferReducer } from '../transfer/transfer-reducer.js';
import type { SourceFingerprint } from '../transfer/fingerprint.js';
import { confinePath } from './confine.js';
import { frameAcceptedSocket } from './accepted-socket.js';
import { MAX_DATA_PAYLOAD, type ControlMessage, type FramedConnection } from './framed-connection.js';
import { authenticateServer, NonceCache } from './handshake.js';
import { nodeOf, type Netmap } from './netmap.js';
import { errorMessage, RemoteSource, serveSource } from './remote-source.js';


/** How long a push waits for an earlier attempt on the same destination (a dead connection being noticed). */
const LOCK_WAIT_MS = 10_000;
/** Options of a node server. */
export interface NodeServerOptions {
  /** Every path is confined to this folder. */
  readonly root: string;
  readonly host: string;
  /** 0 picks a free port (see {@link NodeServer.address}). */
  readonly port: number;
  /** This node's name in the netmap. */
  readonly name: string;
  readonly netmap: Netmap;
  /** Checkpoints of unfinished transfers are kept this long after their last write (default 30 days). */
  readonly retentionMs?: number;
  /** A peer silent this long is disconnected (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** Connections served at once; more are closed on arrival (default 256). */
  readonly maxConnections?: number;
  /** How often expired partial transfers are pruned (default hourly; 0 disables). */
  readonly pruneEveryMs?: number;
  /** Server events: connections, transfers, refusals, prunes. */
  readonly onEvent?: (event: ServerEvent) => void;
}

/** What the server reports. */
export type ServerEvent =
  | { readonly type: 'serve/connection'; readonly remote: string }
  | { readonly type: 'serve/authenticated'; readonly node: string }
  | { readonly type: 'serve/refused'; readonly remote: string; readonly reason: string }
  | { readonly type: 'serve/transfer'; readonly node: string; readonly op: 'put' | 'get'; readonly path: string; readonly outcome: 'success' | 'failure'; readonly error?: string; readonly bytes?: number }
  | { readonly type: 'serve/pruned'; readonly removed: number };

/**
 * `ckpt serve`: a TCP node that receives pushes (`put`) into its root and serves pulls (`get`)
 * from it, for authenticated nodes of its netmap. {@link NodeServer.close} stops accepting,
 * interrupts transfers after their last checkpoint (all stay resumable) and closes sockets.
 */
export class NodeServer {
  private server: Server | undefined;
  private readonly connections = new Set<Socket>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();
  private readonly nonces = new NonceCache();
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: NodeServerOptions) {
    nodeOf(options.netmap, options.name, '--name, this node');
  }

  /** Listens; resolves with the bound address. */
  async listen(): Promise<{ host: string; port: number }> {
    // TLS when this node's netmap entry has a certificate; authentication is the HMAC handshake either way.
    const tls = nodeOf(this.options.netmap, this.options.name, 'this node').tls;
    const server: Server =
      tls?.cert && tls.key
        ? createTlsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: 10_000 }, (socket) => this.accept(socket)).on('tlsClientError', () => undefined)
        : // Paused on connect: nothing is read before the socket is framed (see frameAcceptedSocket).
          createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new InvalidInputError(`cannot listen on ${this.options.host}:${this.options.port} (${error.code ?? error.message})`, { hint: 'pick a free port or another --listen address' })),
      );
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const every = this.options.pruneEveryMs ?? 3_600_000;
    if (every > 0) {
      void this.prune().catch(() => undefined);
      this.pruneTimer = setInterval(() => void this.prune().catch(() => undefined), every);
      this.pruneTimer.unref();
    }
    return this.address();
  }

  /** The bound address. */
  address(): { host: string; port: number } {
    const address = this.server?.address();
    if (address === null || address === undefined || typeof address === 'string') throw new Error('the server is not listening');
    return { host: address.address, port: address.port };
  }

  /** Removes expired checkpoints and their partial data under the root. */
  async prune(): Promise<PruneReport> {
    const report = await pruneCheckpoints(this.options.root, {
      reducers: [transferReducer],
      companions: new Map([[TRANSFER_KIND, transferCompanions]]),
    });
    if (report.removed.length > 0) this.options.onEvent?.({ type: 'serve/pruned', removed: report.removed.length });
    return report;
  }

  private accept(accepted: Socket): void {
    if (this.shutdown.signal.aborted || this.connections.size >= (this.options.maxConnections ?? 256)) {
      accepted.destroy();
      return;
    }
    // The connection may move the accepted handle into a socket that reads into its frames.
    const connection = frameAcceptedSocket(accepted, this.options.idleTimeoutMs ?? 30_000);
    const socket = connection.socket;
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.options.onEvent?.({ type: 'serve/connection', remote });
    const work = this.session(connection)
      .catch((error: unknown) => {
        this.options.onEvent?.({ type: 'serve/refused', remote, reason: error instanceof Error ? error.message.split('\n')[0]! : String(error) });
      })
      .finally(() => {
        socket.destroy();
        this.running.delete(work);
      });
    this.running.add(work);
  }

  private async session(connection: FramedConnection): Promise<void> {
    const self = nodeOf(this.options.netmap, this.options.name, 'this node');
    const client = await authenticateServer(connection, self, this.options.netmap, this.nonces);
    this.options.onEvent?.({ type: 'serve/authenticated', node: client.name });
    // Nothing is written before authentication; from here, one request per connection.
    const request = await connection.receiveControl();
    const path = typeof request['path'] === 'string' ? request['path'] : '';
    const report = (outcome: 'success' | 'failure', extra: { error?: string; bytes?: number } = {}) =>
      this.options.onEvent?.({ type: 'serve/transfer', node: client.name, op: request.op === 'get' ? 'get' : 'put', path, outcome, ...extra });
    try {
      if (request.op === 'put') await this.put(connection, request, client.name, report);
      else if (request.op === 'get') await this.get(connection, request, report);
      else await connection.sendControl({ op: 'error', code: 'invalid', message: `unknown request "${request.op}"` });
    } catch (error) {
      report('failure', { error: error instanceof Error ? error.message.split('\n')[0]! : String(error) });
      await connection.sendControl(errorMessage(error)).catch(() => undefined);
    } finally {
      connection.end();
    }
  }

  private async put(connection: FramedConnection, request: ControlMessage, peer: string, report: (o: 'success', e: { bytes: number }) => void): Promise<void> {
    const size = Number(request['size']);
    const fingerprint = request['fingerprint'] as SourceFingerprint | undefined;
    const interval = request['interval'] === undefined ? DEFAULT_CHECKPOINT_INTERVAL : Number(request['interval']);
    if (!Number.isSafeInteger(size) || size < 0 || typeof fingerprint !== 'object' || fingerprint === null || !Number.isSafeInteger(interval) || interval < 0) {
      throw new InvalidInputError('malformed put request');
    }
    const destination = await confinePath(this.options.root, String(request['path']), 'write');
    const source = new RemoteSource(connection, { size, fingerprint }, peer, undefined, request['compress'] === true);
    const result = await receiveFile(
      {
        destination,
        source,
        interval,
        verify: request['verify'] === 'full' ? 'full' : 'tail',
        onEvent: (event: TransferEvent) => void connection.sendControl({ op: 'event', event }).catch(() => undefined),
      },
      {
        signal: this.shutdown.signal,
        // A client that was killed and reruns at once finds its previous attempt still
        // holding the destination until this node notices the dead connection: wait for it.
        lockWaitMs: LOCK_WAIT_MS,
        // A push creates the missing folders of its path under the root (docs/protocol.md).
        createFolders: true,
        ...(this.options.retentionMs !== undefined && { retentionMs: this.options.retentionMs }),
      },
    );
    await connection.sendControl({ op: 'done', result: { ...result } });
    report('success', { bytes: result.bytes });
  }

  private async get(connection: FramedConnection, request: ControlMessage, report: (o: 'success', e: { bytes: number }) => void): Promise<void> {
    const path = await confinePath(this.options.root, String(request['path']), 'read');
    const source = new LocalSource(path, true);
    try {
      const info = await source.describe();
      await connection.sendControl({ op: 'source', size: info.size, fingerprint: info.fingerprint, frame: MAX_DATA_PAYLOAD });
      const last = await serveSource(connection, source, this.shutdown.signal);
      if (last.op === 'bye') report('success', { bytes: info.size });
    } finally {
      await source.close();
    }
  }

  /** Stops: no new connections; running transfers record their checkpoint and stop; sockets close. */
  async close(): Promise<void> {
    this.shutdown.abort();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // Give transfers a moment to record their last checkpoint, then close what is left.
    const settle = Promise.allSettled([...this.running]);
    await Promise.race([settle, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    for (const socket of this.connections) socket.destroy();
    await Promise.allSettled([...this.running]);
    await closed;
  }
}
