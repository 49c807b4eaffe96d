import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { TransferError } from '../errors.js';

/**
 * The wire framing (docs/protocol.md): every frame is
 *
 *     u32 big-endian length of what follows (type + payload) | u8 type | payload
 *
 * type 1 is a control message (UTF-8 JSON object with an `op`), type 2 is file data, type 3 is
 * file data compressed with raw DEFLATE (at most 256 KiB once inflated). A frame
 * longer than the limit, of length 0, of an unknown type or with malformed JSON is a protocol
 * error: that connection is closed, nothing else is affected.
 */
export const FrameType = { Control: 1, Data: 2, CompressedData: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Largest data payload a sender puts in one frame. */
export const MAX_DATA_PAYLOAD = 256 * 1024;
/** Largest frame accepted (type byte included). */
export const MAX_FRAME_BYTES = 1 + 1024 * 1024;
/** Largest control frame accepted. */
export const MAX_CONTROL_BYTES = 64 * 1024;
/** Largest control frame accepted before authentication. */
export const MAX_HANDSHAKE_BYTES = 4 * 1024;
/** Received bytes queued before the socket is paused (backpressure toward the peer). */
const HIGH_WATER = 4 * 1024 * 1024;

/** A received frame. */
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

/** A socket with framing, a bounded receive queue, idle timeouts and write backpressure. */
export class FramedConnection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly queue: Frame[] = [];
  private queuedBytes = 0;
  private waiter: { resolve: (frame: Frame) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  /** Control frames larger than this are refused (raised after authentication). */
  maxControlBytes = MAX_HANDSHAKE_BYTES;
  /** Data frames are refused until authentication. */
  acceptData = false;

  constructor(
    readonly socket: Socket,
    /** A receive waiting longer than this fails and closes the connection. */
    public idleTimeoutMs = 30_000,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(new TransferError(`connection to ${this.peerName()} failed: ${error.message}`, { cause: error })));
    socket.on('close', () => this.fail(new TransferError(`connection to ${this.peerName()} closed`)));
  }

  private peerName(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    // Chunks are kept as they arrive and joined once per complete frame (one copy per frame).
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 5) {
      if (this.chunks[0]!.length < 5) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
      const head = this.chunks[0]!;
      const length = head.readUInt32BE(0);
      const type = head[4]!;
      if (length < 1 || length > MAX_FRAME_BYTES) return this.protocolError(`frame of ${length} bytes is outside 1..${MAX_FRAME_BYTES}`);
      if (type === FrameType.Control && length - 1 > this.maxControlBytes) return this.protocolError(`control frame of ${length - 1} bytes exceeds ${this.maxControlBytes}`);
      const isData = type === FrameType.Data || type === FrameType.CompressedData;
      if (isData && !this.acceptData) return this.protocolError('data frame before the transfer was agreed');
      if (type !== FrameType.Control && !isData) return this.protocolError(`unknown frame type ${type}`);
      if (this.buffered < 4 + length) break;
      const joined = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.buffered);
      const payload = joined.subarray(5, 4 + length);
      const rest = joined.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      if (type === FrameType.Control) {
        let message: unknown;
        try {
          message = JSON.parse(payload.toString('utf8'));
        } catch {
          return this.protocolError('control frame is not JSON');
        }
        if (typeof message !== 'object' || message === null || typeof (message as { op?: unknown }).op !== 'string') {
          return this.protocolError('control frame has no "op"');
        }
        this.push({ type: FrameType.Control, message: message as ControlMessage }, payload.length);
      } else {
        this.push({ type: type as 2 | 3, data: payload }, payload.length);
      }
    }
  }

  private push(frame: Frame, bytes: number): void {
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(frame);
      return;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.type !== FrameType.Control ? bytes : 0;
    if (this.queuedBytes > HIGH_WATER) this.socket.pause();
  }

  private protocolError(reason: string): void {
    this.fail(new ProtocolError(`protocol error from ${this.peerName()}: ${reason}; the connection was closed`));
    this.socket.destroy();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  /** The next frame; rejects when the connection fails, closes or stays idle too long. */
  receive(timeoutMs = this.idleTimeoutMs): Promise<Frame> {
    const frame = this.queue.shift();
    if (frame) {
      this.queuedBytes -= frame.type !== FrameType.Control ? frame.data.length : 0;
      if (this.queuedBytes <= HIGH_WATER / 2 && this.socket.isPaused()) this.socket.resume();
      return Promise.resolve(frame);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.socket.isPaused()) this.socket.resume();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new TransferError(`no data from ${this.peerName()} for ${Math.round(timeoutMs / 1000)}s; the connection was closed`));
        this.socket.destroy();
      }, timeoutMs);
      this.waiter = {
        resolve: (f) => (clearTimeout(timer), resolve(f)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  /** The next data (inflated) or control frame. A compressed frame inflating beyond the limit is a protocol error. */
  async receiveData(): Promise<{ readonly data: Buffer } | { readonly message: ControlMessage }> {
    const frame = await this.receive();
    if (frame.type === FrameType.Control) return { message: frame.message };
    if (frame.type === FrameType.Data) return { data: frame.data };
    try {
      return { data: await inflate(frame.data, { maxOutputLength: MAX_DATA_PAYLOAD }) };
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

  /** Sends file data, split into frames of at most {@link MAX_DATA_PAYLOAD}. */
  async sendData(data: Uint8Array, compress = false): Promise<void> {
    for (let at = 0; at < data.length; at += MAX_DATA_PAYLOAD) {
      const slice = data.subarray(at, Math.min(data.length, at + MAX_DATA_PAYLOAD));
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

  private write(type: FrameType, payload: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const header = Buffer.allocUnsafe(5);
    header.writeUInt32BE(payload.length + 1, 0);
    header[4] = type;
    this.socket.cork();
    this.socket.write(header);
    const flushed = this.socket.write(payload);
    this.socket.uncork();
    if (flushed) return Promise.resolve();
    // Backpressure: wait until the peer has taken what is buffered.
    return new Promise<void>((resolve, reject) => {
      const onDrain = () => (cleanup(), resolve());
      const onClose = () => (cleanup(), reject(this.failure ?? new TransferError(`connection to ${this.peerName()} closed`)));
      const cleanup = () => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
      };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
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
