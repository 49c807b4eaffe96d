import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CheckpointLockedError, InvalidInputError, pruneCheckpoints, type PruneReport } from '@ckpt/core';
import { DestinationLockedError } from '../errors.js';
import { transferCompanions, TRANSFER_KIND } from '../transfer/names.js';
import { LocalSource } from '../transfer/local-source.js';
import { HASH_ALGORITHMS, LEGACY_HASH } from '../transfer/chain-hash.js';
import { DEFAULT_CHECKPOINT_INTERVAL, receiveFile, type TransferEvent } from '../transfer/receiver.js';
import { transferReducer } from '../transfer/transfer-reducer.js';
import { confinePath } from './confine.js';
import { frameAcceptedSocket } from './accepted-socket.js';
import { MAX_DATA_PAYLOAD, type ControlMessage, type FramedConnection } from './framed-connection.js';
import { authenticateServer, NonceCache, SERVER_HANDSHAKE_TIMEOUT_MS } from './handshake.js';
import { parseGetRequest, parsePutRequest } from './messages.js';
import { nodeOf, type Netmap } from './netmap.js';
import { errorMessage, RemoteSource, serveSource } from './remote-source.js';

/** Default connection budgets and deadlines of a node (docs/file-transfer.md, "Limits of a node"). */
export const NODE_DEFAULTS = {
  /** Authenticated connections served at once. */
  maxConnections: 256,
  /** Connections that have not completed the handshake, in all. */
  maxUnauthenticated: 64,
  /** Connections that have not completed the handshake, from one remote address. */
  maxUnauthenticatedPerAddress: 16,
  /** Time to complete the whole handshake. */
  handshakeTimeoutMs: SERVER_HANDSHAKE_TIMEOUT_MS,
  /** A peer silent this long is disconnected. */
  idleTimeoutMs: 30_000,
  /** A frame the peer does not take for this long (it stopped reading) closes the connection. */
  writeTimeoutMs: 60_000,
} as const;

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
  /**
   * A frame (at most 1 MiB) the peer does not take for this long closes the connection and
   * frees what it held: a pull whose client stopped reading (default 60 s; 0 waits for ever).
   */
  readonly writeTimeoutMs?: number;
  /** Authenticated connections served at once; more are told the node is busy (`io`, retried) and closed (default 256). */
  readonly maxConnections?: number;
  /**
   * Connections still in the handshake, in all (default 64) and per remote address (default 16).
   * A new connection beyond either closes the oldest such one (of that address, else of all):
   * idle sockets cannot keep a good client out, and authenticated work has its own budget.
   */
  readonly maxUnauthenticated?: number;
  readonly maxUnauthenticatedPerAddress?: number;
  /** The whole handshake must complete within this, or the connection is closed (default 5 s). */
  readonly handshakeTimeoutMs?: number;
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
  | {
      readonly type: 'serve/transfer';
      readonly node: string;
      readonly op: 'put' | 'get';
      readonly path: string;
      readonly outcome: 'success' | 'failure';
      readonly error?: string;
      readonly bytes?: number;
    }
  | { readonly type: 'serve/pruned'; readonly removed: number };

/**
 * `ckpt serve`: a TCP node that receives pushes (`put`) into its root and serves pulls (`get`)
 * from it, for authenticated nodes of its netmap. {@link NodeServer.close} stops accepting,
 * interrupts transfers after their last checkpoint (all stay resumable) and closes sockets.
 */
export class NodeServer {
  private server: Server | undefined;
  private readonly connections = new Set<Socket>();
  /** Connections still in the handshake, oldest first, with their remote address. */
  private readonly unauthenticated = new Map<Socket, string>();
  private authenticated = 0;
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
        ? createTlsServer(
            { cert: tls.cert, key: tls.key, handshakeTimeout: this.options.handshakeTimeoutMs ?? NODE_DEFAULTS.handshakeTimeoutMs },
            (socket) => this.accept(socket),
          ).on('tlsClientError', () => undefined)
        : // Paused on connect: nothing is read before the socket is framed (see frameAcceptedSocket).
          createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new InvalidInputError(`cannot listen on ${this.options.host}:${this.options.port} (${error.code ?? error.message})`, {
            hint: 'pick a free port or another --listen address',
          }),
        ),
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

  /** Client nonces remembered against replay: only handshakes that completed (for monitoring and tests). */
  get rememberedNonces(): number {
    return this.nonces.size;
  }

  /** Connections open now: in the handshake, and authenticated (for monitoring and tests). */
  get connectionCounts(): { readonly unauthenticated: number; readonly authenticated: number } {
    return { unauthenticated: this.unauthenticated.size, authenticated: this.authenticated };
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
    if (this.shutdown.signal.aborted) {
      accepted.destroy();
      return;
    }
    const address = accepted.remoteAddress ?? '?';
    // The connection may move the accepted handle into a socket that reads into its frames.
    const connection = frameAcceptedSocket(accepted, this.options.idleTimeoutMs ?? NODE_DEFAULTS.idleTimeoutMs, {
      writeTimeoutMs: this.options.writeTimeoutMs ?? NODE_DEFAULTS.writeTimeoutMs,
    });
    const socket = connection.socket;
    this.connections.add(socket);
    this.unauthenticated.set(socket, address);
    socket.on('close', () => {
      this.connections.delete(socket);
      this.unauthenticated.delete(socket);
    });
    this.admitUnauthenticated(address);
    const remote = connection.peer;
    this.options.onEvent?.({ type: 'serve/connection', remote });
    const work = this.session(connection, address)
      .catch((error: unknown) => {
        this.options.onEvent?.({ type: 'serve/refused', remote, reason: error instanceof Error ? error.message.split('\n')[0]! : String(error) });
      })
      .finally(() => {
        socket.destroy();
        this.running.delete(work);
      });
    this.running.add(work);
  }

  /**
   * Keeps connections still in the handshake within their budgets by closing the oldest ones: a
   * socket that has not authenticated holds nothing worth keeping, and the newest is the one most
   * likely to be a client about to authenticate (idle sockets age; a real handshake takes a few
   * round trips).
   */
  private admitUnauthenticated(address: string): void {
    const perAddress = this.options.maxUnauthenticatedPerAddress ?? NODE_DEFAULTS.maxUnauthenticatedPerAddress;
    const total = this.options.maxUnauthenticated ?? NODE_DEFAULTS.maxUnauthenticated;
    const fromAddress = [...this.unauthenticated].filter(([, from]) => from === address);
    for (const [socket] of fromAddress.slice(0, Math.max(0, fromAddress.length - perAddress))) this.evict(socket);
    const oldest = [...this.unauthenticated.keys()];
    for (const socket of oldest.slice(0, Math.max(0, oldest.length - total))) this.evict(socket);
  }

  private evict(socket: Socket): void {
    this.unauthenticated.delete(socket);
    socket.destroy();
  }

  private async session(connection: FramedConnection, address: string): Promise<void> {
    const self = nodeOf(this.options.netmap, this.options.name, 'this node');
    const client = await authenticateServer(
      connection,
      self,
      this.options.netmap,
      this.nonces,
      this.options.handshakeTimeoutMs ?? NODE_DEFAULTS.handshakeTimeoutMs,
    );
    // The handshake named the peer: messages say `node NAME (address)` from now on.
    this.unauthenticated.delete(connection.socket);
    this.options.onEvent?.({ type: 'serve/authenticated', node: client.name });
    if (this.authenticated >= (this.options.maxConnections ?? NODE_DEFAULTS.maxConnections)) {
      await connection
        .sendControl({ op: 'error', code: 'io', message: `node ${self.name} is serving ${this.authenticated} connections, its limit; retry later` })
        .catch(() => undefined);
      connection.end();
      throw new Error(`node ${client.name} from ${address} turned away: ${this.authenticated} connections are being served, the limit`);
    }
    this.authenticated++;
    try {
      await this.serveRequest(connection, client.name);
    } finally {
      this.authenticated--;
    }
  }

  private async serveRequest(connection: FramedConnection, peer: string): Promise<void> {
    // Nothing is written before authentication; from here, one request per connection.
    const request = await connection.receiveControl();
    const path = typeof request['path'] === 'string' ? request['path'] : '';
    const report = (outcome: 'success' | 'failure', extra: { error?: string; bytes?: number } = {}) =>
      this.options.onEvent?.({ type: 'serve/transfer', node: peer, op: request.op === 'get' ? 'get' : 'put', path, outcome, ...extra });
    try {
      if (request.op === 'put') await this.put(connection, request, peer, report);
      else if (request.op === 'get') await this.get(connection, request, report);
      else throw new InvalidInputError(`unknown request ${JSON.stringify(request.op.slice(0, 32))}`);
    } catch (error) {
      report('failure', { error: error instanceof Error ? error.message.split('\n')[0]! : String(error) });
      await connection.sendControl(await this.relayable(errorMessage(error))).catch(() => undefined);
    } finally {
      connection.end();
    }
  }

  /**
   * An error as the peer sees it: paths relative to the root. A peer names files relative to the
   * root; where the root is on this machine is none of its business.
   */
  private async relayable(message: ControlMessage): Promise<ControlMessage> {
    // Absolute forms only: a relative --root ("root") must not cut "root/" out of other names.
    const absolute = resolve(this.options.root);
    const roots = [absolute, await realpath(absolute).catch(() => absolute)].map((root) => root.replace(/\/+$/, ''));
    let text = String(message['message']);
    for (const root of [...new Set(roots)].sort((a, b) => b.length - a.length)) {
      if (root === '') continue;
      text = text.split(`${root}/`).join('').split(root).join('.');
    }
    return { ...message, message: text };
  }

  private async put(
    connection: FramedConnection,
    request: ControlMessage,
    peer: string,
    report: (o: 'success', e: { bytes: number }) => void,
  ): Promise<void> {
    // Every field is checked before anything is touched: what a peer sends ends up in records.
    const put = parsePutRequest(request);
    const destination = await confinePath(this.options.root, put.path, 'write');
    const source = new RemoteSource(
      connection,
      { size: put.size, fingerprint: put.fingerprint, ...(put.mode !== undefined && { mode: put.mode }) },
      peer,
      undefined,
      put.compress,
      // A client that names a chain hash is of revision 5 or later: it hashes with any.
      put.namesAlgorithm ? HASH_ALGORITHMS : [LEGACY_HASH],
    );
    let result;
    try {
      result = await receiveFile(
        {
          destination,
          source,
          interval: put.interval ?? DEFAULT_CHECKPOINT_INTERVAL,
          verify: put.verify,
          hash: put.algorithm,
          ...(put.preserve && { preserve: true }),
        },
        {
          // Relayed to the pushing client as each record becomes durable.
          onEvent: (event: TransferEvent) => void connection.sendControl({ op: 'event', event }).catch(() => undefined),
          signal: this.shutdown.signal,
          // Another transfer writing this destination: refused at once, never two writers. The
          // client retries per its policy (the other may be its own killed attempt, which this
          // node notices within moments as its connection closes).
          lockWaitMs: 0,
          // A push creates the missing folders of its path under the root (docs/protocol.md).
          createFolders: true,
          ...(this.options.retentionMs !== undefined && { retentionMs: this.options.retentionMs }),
        },
      );
    } catch (error) {
      if (error instanceof CheckpointLockedError) {
        throw new DestinationLockedError(
          `destination ${put.path} is being written by another transfer to node ${this.options.name}; refused, not queued`,
        );
      }
      throw error;
    }
    await connection.sendControl({ op: 'done', result: { ...result } });
    report('success', { bytes: result.bytes });
  }

  private async get(connection: FramedConnection, request: ControlMessage, report: (o: 'success', e: { bytes: number }) => void): Promise<void> {
    const path = await confinePath(this.options.root, parseGetRequest(request).path, 'read');
    const source = new LocalSource(path, true);
    try {
      const info = await source.describe();
      await connection.sendControl({
        op: 'source',
        size: info.size,
        fingerprint: info.fingerprint,
        ...(info.mode !== undefined && { mode: info.mode }),
        frame: MAX_DATA_PAYLOAD,
      });
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
