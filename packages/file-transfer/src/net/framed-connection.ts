import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { TransferError } from '../errors.js';
import { ReceiveArena, type Lease } from './receive-arena.js';

/**
 * The wire framing (docs/protocol.md): every frame is
 *
 *     u32 big-endian length of what follows (type + payload) | u8 type | payload
 *
 * type 1 is a control message (UTF-8 JSON object with an `op`), type 2 is file data (at most
 * 1 MiB), type 3 is file data compressed with raw DEFLATE (at most 256 KiB once inflated). A frame
 * longer than the limit, of length 0, of an unknown type or with malformed JSON is a protocol
 * error: that connection is closed, nothing else is affected.
 */
export const FrameType = { Control: 1, Data: 2, CompressedData: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/**
 * Largest data payload a sender puts in one uncompressed frame: 1 MiB, the receiver's limit, so
 * one read of the sender's copy loop is one frame and one write at the receiver (protocol
 * revision 2; revision 1 senders used 256 KiB, which receivers still accept).
 */
export const MAX_DATA_PAYLOAD = 1024 * 1024;
/** Largest slice compressed into one type-3 frame; it must inflate to at most this. */
export const MAX_COMPRESSED_SLICE = 256 * 1024;
/** Largest frame accepted (type byte included). */
export const MAX_FRAME_BYTES = 1 + 1024 * 1024;
/** Largest control frame accepted. */
export const MAX_CONTROL_BYTES = 64 * 1024;
/** Largest control frame accepted before authentication. */
export const MAX_HANDSHAKE_BYTES = 4 * 1024;
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

/**
 * A received frame. The bytes of a data frame are lent: they stay valid until the consumer has
 * called `receive` (`receiveData`, `receiveControl`) {@link HELD_DATA_FRAMES} + 1 more times on
 * the same connection, after which the memory is reused for later frames. A consumer that keeps
 * them longer must copy them.
 */
export type Frame =
  | { readonly type: 1; readonly message: ControlMessage }
  | { readonly type: 2; readonly data: Buffer }
  | { readonly type: 3; readonly data: Buffer };

/** A control message. */
export interface ControlMessage {
  readonly op: string;
  readonly [field: string]: unknown;
}

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** The peer broke the protocol (oversized, garbage): the connection is closed. */
export class ProtocolError extends TransferError {}

/** A frame in the receive queue; data frames carry the arena lease their bytes live in. */
interface Received {
  readonly frame: Frame;
  readonly lease?: Lease;
  /** Payload bytes of a control frame (counted against the receive memory while queued). */
  readonly controlBytes?: number;
}

/** The frame whose payload is arriving. */
interface Incoming {
  readonly type: FrameType;
  readonly payload: Buffer;
  readonly lease?: Lease;
  filled: number;
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
  /** Header bytes received so far, when a header arrived split across socket reads. */
  private readonly header = Buffer.alloc(5);
  private headerBytes = 0;
  private incoming: Incoming | undefined;
  private readonly arena = new ReceiveArena(BLOCK_BYTES, SPARE_BLOCKS);
  /** The lease of the data frame last handed to the consumer, released on its next receive. */
  /** Leases of the data frames handed to the consumer and not yet reused, oldest first. */
  private readonly lent: Lease[] = [];
  private readonly queue: Received[] = [];
  private queuedControlBytes = 0;
  private waiter: { resolve: (frame: Received) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  /** Control frames larger than this are refused (raised after authentication). */
  maxControlBytes = MAX_HANDSHAKE_BYTES;
  /** Data frames are refused until authentication. */
  acceptData = false;
  /**
   * A frame the socket has not handed to the kernel after this long fails the connection and
   * closes it: the peer stopped reading (0, the default, waits for ever). A node server sets it,
   * so a pull whose client stops reading cannot hold the server's file and memory for ever.
   */
  writeTimeoutMs = 0;
  /**
   * Who is at the other end, for messages: the address captured while the socket was open
   * (`host:port`), or what the owner sets once it knows (`node beta at host:port`).
   */
  peer = '?';

  constructor(
    socket: Socket | ((readInto: ReadInto) => Socket),
    /** A receive waiting longer than this fails and closes the connection. */
    public idleTimeoutMs = 30_000,
  ) {
    if (typeof socket === 'function') {
      this.socket = socket({ buffer: () => this.readBuffer(), callback: (bytes) => this.didRead(bytes) });
    } else {
      this.socket = socket;
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
    }
    this.socket.setNoDelay(true);
    // Captured while connected: after a close, remoteAddress is undefined.
    this.capturePeer();
    this.socket.once('connect', () => this.capturePeer());
    this.socket.once('secureConnect', () => this.capturePeer());
    this.socket.on('error', (error) => this.fail(new TransferError(`connection to ${this.peerName()} failed: ${error.message}`, { cause: error })));
    this.socket.on('close', () => this.fail(new TransferError(`connection to ${this.peerName()} closed`)));
  }

  private capturePeer(): void {
    if (this.peer === '?' && this.socket.remoteAddress !== undefined) this.peer = `${this.socket.remoteAddress}:${this.socket.remotePort ?? '?'}`;
  }

  private peerName(): string {
    return this.peer;
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

  private onData(chunk: Buffer): void {
    // Each payload byte is copied once, from the socket's chunk straight into the memory the
    // consumer gets (an arena block for data, an exact-size Buffer for control): no joining of
    // chunks, and no fresh allocation per data frame.
    let at = 0;
    while (at < chunk.length && this.failure === undefined) {
      if (this.incoming === undefined) {
        let head: Buffer;
        let headAt: number;
        if (this.headerBytes === 0 && chunk.length - at >= 5) {
          head = chunk;
          headAt = at;
          at += 5;
        } else {
          const take = Math.min(5 - this.headerBytes, chunk.length - at);
          chunk.copy(this.header, this.headerBytes, at, at + take);
          this.headerBytes += take;
          at += take;
          if (this.headerBytes < 5) return;
          head = this.header;
          headAt = 0;
        }
        this.headerBytes = 0;
        if (!this.startFrame(head.readUInt32BE(headAt), head[headAt + 4]!)) return;
      }
      const incoming = this.incoming!;
      const take = Math.min(incoming.payload.length - incoming.filled, chunk.length - at);
      chunk.copy(incoming.payload, incoming.filled, at, at + take);
      incoming.filled += take;
      at += take;
      if (incoming.filled === incoming.payload.length) this.completeFrame(incoming);
    }
  }

  /** Read-into mode: where the next socket read lands (the rest of the header, or of the payload). */
  private readBuffer(): Buffer {
    const incoming = this.incoming;
    return incoming === undefined ? this.header.subarray(this.headerBytes) : incoming.payload.subarray(incoming.filled);
  }

  /** Read-into mode: `bytes` bytes landed where {@link readBuffer} said. False pauses reading. */
  private didRead(bytes: number): boolean {
    if (this.failure !== undefined) return false;
    const incoming = this.incoming;
    if (incoming !== undefined) {
      incoming.filled += bytes;
      if (incoming.filled === incoming.payload.length) this.completeFrame(incoming);
    } else {
      this.headerBytes += bytes;
      if (this.headerBytes < 5) return true;
      this.headerBytes = 0;
      if (!this.startFrame(this.header.readUInt32BE(0), this.header[4]!)) return false;
      // An empty payload is complete at once; nothing more will be read for it.
      if (this.incoming!.payload.length === 0) this.completeFrame(this.incoming!);
    }
    return this.failure === undefined;
  }

  /** Checks a header and makes room for its payload; false after a protocol error. */
  private startFrame(length: number, type: number): boolean {
    if (length < 1 || length > MAX_FRAME_BYTES) return this.protocolError(`frame of ${length} bytes is outside 1..${MAX_FRAME_BYTES}`);
    if (type === FrameType.Control && length - 1 > this.maxControlBytes) return this.protocolError(`control frame of ${length - 1} bytes exceeds ${this.maxControlBytes}`);
    const isData = type === FrameType.Data || type === FrameType.CompressedData;
    if (isData && !this.acceptData) return this.protocolError('data frame before the transfer was agreed');
    if (type !== FrameType.Control && !isData) return this.protocolError(`unknown frame type ${type}`);
    if (isData) {
      const lease = this.arena.lease(length - 1);
      this.incoming = { type: type as FrameType, payload: lease.bytes, lease, filled: 0 };
    } else {
      this.incoming = { type: FrameType.Control, payload: Buffer.allocUnsafe(length - 1), filled: 0 };
    }
    if (this.receiveMemory > PAUSE_ABOVE) this.socket.pause();
    return true;
  }

  private completeFrame(incoming: Incoming): void {
    this.incoming = undefined;
    if (incoming.type !== FrameType.Control) {
      this.push({ frame: { type: incoming.type as 2 | 3, data: incoming.payload }, lease: incoming.lease! });
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(incoming.payload.toString('utf8'));
    } catch {
      this.protocolError('control frame is not JSON');
      return;
    }
    if (typeof message !== 'object' || message === null || typeof (message as { op?: unknown }).op !== 'string') {
      this.protocolError('control frame has no "op"');
      return;
    }
    this.push({ frame: { type: FrameType.Control, message: message as ControlMessage }, controlBytes: incoming.payload.length });
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

  private protocolError(reason: string): false {
    this.fail(new ProtocolError(`protocol error from ${this.peerName()}: ${reason}; the connection was closed`));
    this.socket.destroy();
    return false;
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
    if (received.lease) this.lent.push(received.lease);
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
        this.fail(new TransferError(`no data from ${this.peerName()} for ${Math.round(timeoutMs / 1000)}s; the connection was closed`));
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
      this.protocolError('compressed data frame does not inflate within the limit');
      throw this.failure!;
    }
  }

  /** The next control message; a data frame here is a protocol error. */
  async receiveControl(timeoutMs?: number): Promise<ControlMessage> {
    const frame = await this.receive(timeoutMs);
    if (frame.type !== FrameType.Control) {
      this.protocolError('unexpected data frame');
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
    const header = Buffer.allocUnsafe(5);
    header.writeUInt32BE(payload.length + 1, 0);
    header[4] = type;
    return new Promise<void>((resolve, reject) => {
      const limit = this.writeTimeoutMs;
      const timer =
        limit > 0
          ? setTimeout(() => {
              this.fail(new TransferError(`${this.peerName()} did not take a frame for ${Math.round(limit / 1000)}s (it stopped reading); the connection was closed`));
              this.socket.destroy();
            }, limit)
          : undefined;
      this.socket.cork();
      this.socket.write(header);
      this.socket.write(payload, (error) => {
        clearTimeout(timer);
        if (error) reject(this.failure ?? new TransferError(`connection to ${this.peerName()} failed: ${error.message}`, { cause: error }));
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
