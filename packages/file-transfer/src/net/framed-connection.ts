import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { TransferError } from '../errors.js';
import {
  encodeHeader,
  FrameDecoder,
  FrameType,
  MAX_COMPRESSED_SLICE,
  MAX_DATA_PAYLOAD,
  MAX_FRAME_BYTES,
  type ControlMessage,
  type DecodedFrame,
  type Frame,
} from './frame-codec.js';
import { ReceiveArena, type Lease } from './receive-arena.js';

export {
  FrameType,
  MAX_COMPRESSED_SLICE,
  MAX_CONTROL_BYTES,
  MAX_DATA_PAYLOAD,
  MAX_FRAME_BYTES,
  MAX_HANDSHAKE_BYTES,
  type ControlMessage,
  type Frame,
} from './frame-codec.js';

/**
 * Received payload memory (queued frames, the frame being received and the one the consumer
 * holds, counted in whole receive blocks) beyond which the socket stops reading, so TCP flow
 * control reaches the sender. 2 MiB: the kernel's socket buffers already hold megabytes, so a
 * deeper queue here bought nothing measurable (2 and 4 MiB gave the same loopback throughput).
 */
const HIGH_WATER = 2 * 1024 * 1024;
/** Bytes of one receive block: one largest frame. */
const BLOCK_BYTES = MAX_FRAME_BYTES - 1;
/**
 * Data frames the consumer may keep using after it takes the next one: a receiver writes them
 * out behind its hashing (see SourceStream.held). Their blocks do not count toward HIGH_WATER,
 * so the queue ahead of the consumer keeps its depth.
 */
export const HELD_DATA_FRAMES = 2;
/** Receive memory beyond which the socket stops reading. */
const PAUSE_ABOVE = HIGH_WATER + HELD_DATA_FRAMES * BLOCK_BYTES;
/**
 * Spare receive blocks kept per connection: as many as can be in use, so that a steady transfer
 * never allocates (a fresh block costs page faults and GC work). Blocks are only allocated when
 * no spare is left, so blocks held (in use + spare) never exceed the most ever in use:
 * HIGH_WATER plus the block being filled and the ones lent to the consumer, about 6 MiB.
 */
const SPARE_BLOCKS = HIGH_WATER / BLOCK_BYTES + 2 + HELD_DATA_FRAMES;

/*
 * A received {@link Frame}'s data bytes are lent: they stay valid until the consumer has called
 * `receive` (`receiveData`, `receiveControl`) {@link HELD_DATA_FRAMES} + 1 more times on the same
 * connection, after which the memory is reused for later frames. A consumer that keeps them
 * longer must copy them.
 */

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** The peer broke the protocol (oversized, garbage): the connection is closed. */
export class ProtocolError extends TransferError {}

/** A frame in the receive queue; data frames carry the arena lease their bytes live in. */
type Received = DecodedFrame<Lease>;

/** How a connection is set up, besides its socket. */
export interface ConnectionOptions {
  /**
   * A frame the socket has not handed to the kernel after this long fails the connection and
   * closes it: the peer stopped reading (0, the default, waits for ever). A node server sets it,
   * so a pull whose client stops reading cannot hold the server's file and memory for ever.
   */
  readonly writeTimeoutMs?: number;
  /** The node expected at the other end, named in messages (`node beta (host:port)`). */
  readonly node?: string;
  /** The other end's address for messages; by default the socket's, captured while connected. */
  readonly address?: string;
}

/**
 * What `net.connect` (or `new net.Socket`) needs to read straight into a connection's frames:
 * its `onread` option. Node has no such option for accepted sockets (see accepted-socket.ts for
 * how the node server gets there anyway) nor for TLS sockets, which use the `data` events.
 */
export interface ReadInto {
  readonly buffer: () => Buffer;
  readonly callback: (bytes: number) => boolean;
}

/**
 * A socket with framing, a bounded receive queue, idle timeouts and write backpressure.
 *
 * Two ways in. Given a socket, it takes the socket's `data` chunks and copies each payload byte
 * once, into the memory the consumer gets. Given a function that creates the socket with a
 * {@link ReadInto} (`net.connect({ ..., onread })`), the kernel writes headers into a 5-byte
 * buffer and payloads straight into their final memory: no Buffer per read, no copy, and one
 * read syscall per available run of bytes instead of one per 64 KiB.
 */
export class FramedConnection {
  readonly socket: Socket;
  private readonly decoder: FrameDecoder<Lease>;
  private readonly arena = new ReceiveArena(BLOCK_BYTES, SPARE_BLOCKS);
  /** Leases of the data frames handed to the consumer and not yet reused, oldest first. */
  private readonly lent: Lease[] = [];
  private readonly queue: Received[] = [];
  private queuedControlBytes = 0;
  private waiter: { resolve: (frame: Received) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  /** Stream offset of the frame last handed to the consumer (for its protocol errors). */
  private lentOffset = 0;
  private readonly writeTimeoutMs: number;
  /** The node at the other end, once named (by the owner, or by {@link authenticated}). */
  private node: string | undefined;
  private address: string | undefined;

  constructor(
    socket: Socket | ((readInto: ReadInto) => Socket),
    /** A receive waiting longer than this fails and closes the connection. */
    readonly idleTimeoutMs = 30_000,
    options: ConnectionOptions = {},
  ) {
    this.writeTimeoutMs = options.writeTimeoutMs ?? 0;
    this.node = options.node;
    this.address = options.address;
    this.decoder = new FrameDecoder<Lease>(
      (received) => this.push(received),
      (length) => {
        const lease = this.arena.lease(length);
        if (this.receiveMemory > PAUSE_ABOVE) this.socket.pause();
        return { payload: lease.bytes, handle: lease };
      },
    );
    if (typeof socket === 'function') {
      this.socket = socket({ buffer: () => this.decoder.readBuffer(), callback: (bytes) => this.didRead(bytes) });
    } else {
      this.socket = socket;
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
    }
    this.socket.setNoDelay(true);
    // Captured while connected: after a close, remoteAddress is undefined.
    this.capturePeer();
    this.socket.once('connect', () => this.capturePeer());
    this.socket.once('secureConnect', () => this.capturePeer());
    this.socket.on('error', (error) => this.fail(new TransferError(`connection to ${this.peer} failed: ${error.message}`, { cause: error })));
    this.socket.on('close', () => {
      // A stream cut inside a frame says where; the frame is never delivered.
      const truncated = this.decoder.end();
      this.fail(new TransferError(`connection to ${this.peer} closed${truncated ? ` (${truncated.reason})` : ''}`));
    });
  }

  private capturePeer(): void {
    if (this.address === undefined && this.socket.remoteAddress !== undefined)
      this.address = `${this.socket.remoteAddress}:${this.socket.remotePort ?? '?'}`;
  }

  /**
   * Who is at the other end, for messages: the address (`host:port`, captured while the socket
   * was open), with the node's name once known (`node beta (host:port)`).
   */
  get peer(): string {
    const address = this.address ?? '?';
    return this.node === undefined ? address : `node ${this.node} (${address})`;
  }

  /**
   * The handshake proved that `node` is at the other end: the one transition out of the
   * handshake. Control frames up to {@link MAX_CONTROL_BYTES} are accepted from now on (before,
   * {@link MAX_HANDSHAKE_BYTES}), and data frames may be agreed ({@link acceptData}).
   */
  authenticated(node: string): void {
    this.decoder.authenticated();
    this.node = node;
  }

  /**
   * Data frames are accepted while a transfer agreed to receive them (a `send` was asked and
   * its `eof` not yet seen); any other data frame is a protocol error. Only after {@link authenticated}.
   */
  acceptData(accept: boolean): void {
    this.decoder.acceptData(accept);
  }

  /**
   * Bytes held for received frames: receive blocks (in use or spare) and queued control frames.
   * Bounded whatever the peer sends: about 6 MiB (see docs/protocol.md).
   */
  get bufferedBytes(): number {
    return this.arena.bytesHeld + this.queuedControlBytes;
  }

  /** Received payload memory: queued control frames plus arena blocks in use. */
  private get receiveMemory(): number {
    return this.queuedControlBytes + this.arena.bytesInUse;
  }

  /**
   * Data-event mode: each payload byte is copied once, from the socket's chunk straight into the
   * memory the consumer gets (an arena block for data, an exact-size Buffer for control): no
   * joining of chunks, and no fresh allocation per data frame.
   */
  private onData(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    if (!this.decoder.write(chunk)) this.protocolError(this.decoder.failure!.reason, this.decoder.failure!.offset);
  }

  /** Read-into mode: `bytes` bytes landed where the decoder's readBuffer said. False pauses reading. */
  private didRead(bytes: number): boolean {
    if (this.failure !== undefined) return false;
    if (!this.decoder.didRead(bytes)) this.protocolError(this.decoder.failure!.reason, this.decoder.failure!.offset);
    return this.failure === undefined;
  }

  private push(received: Received): void {
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(received);
      return;
    }
    this.queue.push(received);
    this.queuedControlBytes += received.controlBytes ?? 0;
    if (this.receiveMemory > PAUSE_ABOVE) this.socket.pause();
  }

  /** Fails and closes the connection: the frame at stream offset `offset` broke the protocol. */
  private protocolError(reason: string, offset: number): void {
    this.fail(new ProtocolError(`protocol error from ${this.peer}: ${reason} (frame at byte ${offset}); the connection was closed`));
    this.socket.destroy();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  /** Hands `received` to the consumer, lending its bytes (see {@link Frame}). */
  private lend(received: Received): Frame {
    if (received.handle) this.lent.push(received.handle);
    this.lentOffset = received.offset;
    return received.frame;
  }

  /**
   * The next frame; rejects when the connection fails, closes or stays idle too long. The
   * bytes of a data frame returned more than {@link HELD_DATA_FRAMES} calls ago are reused from
   * now on (see {@link Frame}).
   */
  receive(timeoutMs = this.idleTimeoutMs): Promise<Frame> {
    while (this.lent.length > HELD_DATA_FRAMES) this.arena.release(this.lent.shift()!);
    const received = this.queue.shift();
    if (received) {
      this.queuedControlBytes -= received.controlBytes ?? 0;
      if (this.receiveMemory <= PAUSE_ABOVE && this.socket.isPaused()) this.socket.resume();
      return Promise.resolve(this.lend(received));
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.socket.isPaused()) this.socket.resume();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new TransferError(`no data from ${this.peer} for ${Math.round(timeoutMs / 1000)}s; the connection was closed`));
        this.socket.destroy();
      }, timeoutMs);
      this.waiter = {
        resolve: (r) => (clearTimeout(timer), resolve(this.lend(r))),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  /**
   * The control message `op` if it is the next frame already received, taken without waiting;
   * otherwise undefined. Lets a sender report its peer's events while it is still sending.
   */
  takeReceivedControl(op: string): ControlMessage | undefined {
    const next = this.queue[0];
    if (next?.frame.type !== FrameType.Control || next.frame.message.op !== op) return undefined;
    this.queue.shift();
    this.queuedControlBytes -= next.controlBytes ?? 0;
    if (this.receiveMemory <= PAUSE_ABOVE && this.socket.isPaused()) this.socket.resume();
    return next.frame.message;
  }

  /** The next data (inflated) or control frame. A compressed frame inflating beyond the limit is a protocol error. */
  async receiveData(): Promise<{ readonly data: Buffer } | { readonly message: ControlMessage }> {
    const frame = await this.receive();
    if (frame.type === FrameType.Control) return { message: frame.message };
    if (frame.type === FrameType.Data) return { data: frame.data };
    try {
      return { data: await inflate(frame.data, { maxOutputLength: MAX_COMPRESSED_SLICE }) };
    } catch {
      this.protocolError('compressed data frame does not inflate within the limit', this.lentOffset);
      throw this.failure!;
    }
  }

  /** The next control message; a data frame here is a protocol error. */
  async receiveControl(timeoutMs?: number): Promise<ControlMessage> {
    const frame = await this.receive(timeoutMs);
    if (frame.type !== FrameType.Control) {
      this.protocolError('unexpected data frame', this.lentOffset);
      throw this.failure!;
    }
    return frame.message;
  }

  /** Sends a control message. */
  sendControl(message: ControlMessage): Promise<void> {
    return this.write(FrameType.Control, Buffer.from(JSON.stringify(message), 'utf8'));
  }

  /**
   * Sends file data, split into frames of at most {@link MAX_DATA_PAYLOAD} (compressed: slices of
   * at most {@link MAX_COMPRESSED_SLICE}). Resolves once the socket has taken every byte, so the
   * caller may reuse `data` (the sender's read buffers are reused this way).
   */
  async sendData(data: Uint8Array, compress = false): Promise<void> {
    const step = compress ? MAX_COMPRESSED_SLICE : MAX_DATA_PAYLOAD;
    for (let at = 0; at < data.length; at += step) {
      const slice = data.subarray(at, Math.min(data.length, at + step));
      if (compress) {
        // Fast level: the point is to save bandwidth without becoming the bottleneck.
        const packed = await deflate(slice, { level: 1 });
        if (packed.length < slice.length) {
          await this.write(FrameType.CompressedData, packed);
          continue;
        }
      }
      await this.write(FrameType.Data, slice);
    }
  }

  /**
   * Writes one frame (header and payload in one writev); resolves once the socket has handed all
   * of it to the kernel. Waiting for that, rather than only for `drain`, is what lets the caller
   * reuse the payload's memory; and it is the sender's backpressure: {@link sendData} keeps one
   * data frame in flight, and TCP flow control holds it while the receiver is paused.
   */
  private write(type: FrameType, payload: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const header = encodeHeader(type, payload.length);
    return new Promise<void>((resolve, reject) => {
      const limit = this.writeTimeoutMs;
      const timer =
        limit > 0
          ? setTimeout(() => {
              this.fail(
                new TransferError(
                  `${this.peer} did not take a frame for ${Math.round(limit / 1000)}s (it stopped reading); the connection was closed`,
                ),
              );
              this.socket.destroy();
            }, limit)
          : undefined;
      this.socket.cork();
      this.socket.write(header);
      this.socket.write(payload, (error) => {
        clearTimeout(timer);
        if (error) reject(this.failure ?? new TransferError(`connection to ${this.peer} failed: ${error.message}`, { cause: error }));
        else resolve();
      });
      this.socket.uncork();
    });
  }

  /** Ends the connection after what is written. */
  end(): void {
    this.socket.end();
  }

  /** Closes at once. */
  destroy(): void {
    this.socket.destroy();
  }
}
