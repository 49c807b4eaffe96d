/**
 * The wire framing (docs/protocol.md), without a socket: an encoder of frame headers and a
 * decoder that takes bytes, however they were cut into reads, and gives frames or the first
 * error, naming the stream offset of the frame at fault. Every frame is
 *
 *     u32 big-endian length of what follows (type + payload) | u8 type | payload
 *
 * type 1 is a control message (UTF-8 JSON object with an `op`), type 2 is file data (at most
 * 1 MiB), type 3 is file data compressed with raw DEFLATE (at most 256 KiB once inflated). A frame
 * longer than the limit, of length 0, of an unknown type or with malformed JSON is a protocol
 * error: that connection is closed, nothing else is affected. Inflating type 3 is the
 * connection's business (it is asynchronous): the decoder hands over the compressed bytes.
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
/** Bytes of a frame header: the u32 length and the type byte. */
export const HEADER_BYTES = 5;

/** A control message. */
export interface ControlMessage {
  readonly op: string;
  readonly [field: string]: unknown;
}

/**
 * A received frame. The bytes of a data frame may be lent by the memory they were decoded into
 * (see FramedConnection's receive: they are reused after a few more frames).
 */
export type Frame =
  | { readonly type: 1; readonly message: ControlMessage }
  | { readonly type: 2; readonly data: Buffer }
  | { readonly type: 3; readonly data: Buffer };

/** The header of a frame whose payload is `payloadBytes` long. */
export function encodeHeader(type: FrameType, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(payloadBytes + 1, 0);
  header[4] = type;
  return header;
}

/** Why the decoder stopped: what was wrong, and the stream offset of the frame it was wrong in. */
export interface DecodeFailure {
  readonly reason: string;
  /** Byte offset in the stream where the faulty frame's header starts. */
  readonly offset: number;
}

/** A decoded frame, with where its payload memory came from. */
export interface DecodedFrame<Handle> {
  readonly frame: Frame;
  /** The handle {@link DataMemory} returned for a data frame's payload. */
  readonly handle?: Handle;
  /** Payload bytes of a control frame. */
  readonly controlBytes?: number;
  /** Byte offset in the stream where the frame's header starts. */
  readonly offset: number;
}

/**
 * Where data payloads are decoded into (the connection passes its receive arena): `length` bytes,
 * and a handle given back with the frame. By default a fresh Buffer each.
 */
export type DataMemory<Handle> = (length: number) => { readonly payload: Buffer; readonly handle?: Handle };

/** The frame whose payload is arriving. */
interface Incoming<Handle> {
  readonly type: FrameType;
  readonly payload: Buffer;
  readonly handle: Handle | undefined;
  readonly offset: number;
  filled: number;
}

/**
 * Frames out of a byte stream, socket-free. Bytes arrive either as chunks ({@link write}: each
 * payload byte copied once, into the memory the frame is delivered in) or straight into the
 * decoder's memory ({@link readBuffer} then {@link didRead}: a socket's `onread`). Frames go to
 * `onFrame` in order; the first error stops decoding for good ({@link failure}), so bytes after
 * it are never taken for frames. {@link end} says whether the stream stopped inside a frame.
 *
 * What it accepts depends on the session's phase: before {@link authenticated}, control frames
 * of at most {@link MAX_HANDSHAKE_BYTES}; after, {@link MAX_CONTROL_BYTES}; and data frames only
 * while a transfer has agreed to receive them ({@link acceptData}).
 */
export class FrameDecoder<Handle = never> {
  /** Header bytes, when a header arrives split across reads (and always in read-into mode). */
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerBytes = 0;
  private incoming: Incoming<Handle> | undefined;
  /** Bytes of the stream taken so far. */
  private consumed = 0;
  private failed: DecodeFailure | undefined;
  private maxControlBytes = MAX_HANDSHAKE_BYTES;
  private dataAccepted = false;
  private isAuthenticated = false;

  constructor(
    private readonly onFrame: (decoded: DecodedFrame<Handle>) => void,
    private readonly dataMemory: DataMemory<Handle> = (length) => ({ payload: Buffer.allocUnsafe(length) }),
  ) {}

  /** The first error, once there is one: nothing is decoded after it. */
  get failure(): DecodeFailure | undefined {
    return this.failed;
  }

  /** Bytes of the stream taken so far (up to the error, after one). */
  get offset(): number {
    return this.consumed;
  }

  /** True while a frame has started and not ended: a stream that stops here is truncated. */
  get insideFrame(): boolean {
    return this.headerBytes > 0 || this.incoming !== undefined;
  }

  /** The peer proved who it is: control frames up to {@link MAX_CONTROL_BYTES} from now on. Once only. */
  authenticated(): void {
    if (this.isAuthenticated) throw new Error('the connection is already authenticated');
    this.isAuthenticated = true;
    this.maxControlBytes = MAX_CONTROL_BYTES;
  }

  /** Data frames are accepted while a transfer agreed to receive them; a data frame otherwise is an error. */
  acceptData(accept: boolean): void {
    if (accept && !this.isAuthenticated) throw new Error('data frames are accepted only after authentication');
    this.dataAccepted = accept;
  }

  /** Takes `chunk`; false once decoding failed (see {@link failure}). */
  write(chunk: Buffer): boolean {
    let at = 0;
    while (at < chunk.length && this.failed === undefined) {
      if (this.incoming === undefined) {
        let head: Buffer;
        let headAt: number;
        const start = this.consumed - this.headerBytes;
        if (this.headerBytes === 0 && chunk.length - at >= HEADER_BYTES) {
          head = chunk;
          headAt = at;
          at += HEADER_BYTES;
          this.consumed += HEADER_BYTES;
        } else {
          const take = Math.min(HEADER_BYTES - this.headerBytes, chunk.length - at);
          chunk.copy(this.header, this.headerBytes, at, at + take);
          this.headerBytes += take;
          this.consumed += take;
          at += take;
          if (this.headerBytes < HEADER_BYTES) return true;
          head = this.header;
          headAt = 0;
        }
        this.headerBytes = 0;
        if (!this.startFrame(head.readUInt32BE(headAt), head[headAt + 4]!, start)) return false;
      }
      const incoming = this.incoming!;
      const take = Math.min(incoming.payload.length - incoming.filled, chunk.length - at);
      chunk.copy(incoming.payload, incoming.filled, at, at + take);
      incoming.filled += take;
      this.consumed += take;
      at += take;
      if (incoming.filled === incoming.payload.length) this.completeFrame(incoming);
    }
    return this.failed === undefined;
  }

  /** Read-into mode: where the next read lands (the rest of the header, or of the payload). */
  readBuffer(): Buffer {
    const incoming = this.incoming;
    return incoming === undefined ? this.header.subarray(this.headerBytes) : incoming.payload.subarray(incoming.filled);
  }

  /** Read-into mode: `bytes` bytes landed where {@link readBuffer} said. False once decoding failed. */
  didRead(bytes: number): boolean {
    if (this.failed !== undefined) return false;
    this.consumed += bytes;
    const incoming = this.incoming;
    if (incoming !== undefined) {
      incoming.filled += bytes;
      if (incoming.filled === incoming.payload.length) this.completeFrame(incoming);
    } else {
      this.headerBytes += bytes;
      if (this.headerBytes < HEADER_BYTES) return true;
      this.headerBytes = 0;
      if (!this.startFrame(this.header.readUInt32BE(0), this.header[4]!, this.consumed - HEADER_BYTES)) return false;
      // An empty payload is complete at once; nothing more will be read for it.
      if (this.incoming!.payload.length === 0) this.completeFrame(this.incoming!);
    }
    return this.failed === undefined;
  }

  /**
   * The stream ended: undefined when it ended between frames (or had already failed), else the
   * truncation, which also stops the decoder.
   */
  end(): DecodeFailure | undefined {
    if (this.failed !== undefined || !this.insideFrame) return undefined;
    const start = this.incoming?.offset ?? this.consumed - this.headerBytes;
    this.fail(`the stream ended at byte ${this.consumed}, inside the frame that starts at byte ${start}`, start);
    return this.failed;
  }

  /** Checks a header and makes room for its payload; false after an error. */
  private startFrame(length: number, type: number, offset: number): boolean {
    if (length < 1 || length > MAX_FRAME_BYTES) return this.fail(`frame of ${length} bytes is outside 1..${MAX_FRAME_BYTES}`, offset);
    if (type === FrameType.Control && length - 1 > this.maxControlBytes)
      return this.fail(`control frame of ${length - 1} bytes exceeds ${this.maxControlBytes}`, offset);
    const isData = type === FrameType.Data || type === FrameType.CompressedData;
    if (isData && !this.dataAccepted) return this.fail('data frame before the transfer was agreed', offset);
    if (type !== FrameType.Control && !isData) return this.fail(`unknown frame type ${type}`, offset);
    if (isData) {
      const { payload, handle } = this.dataMemory(length - 1);
      this.incoming = { type: type as FrameType, payload, handle, offset, filled: 0 };
    } else {
      this.incoming = { type: FrameType.Control, payload: Buffer.allocUnsafe(length - 1), handle: undefined, offset, filled: 0 };
    }
    return true;
  }

  private completeFrame(incoming: Incoming<Handle>): void {
    this.incoming = undefined;
    const { offset } = incoming;
    if (incoming.type !== FrameType.Control) {
      this.onFrame({
        frame: { type: incoming.type as 2 | 3, data: incoming.payload },
        ...(incoming.handle !== undefined && { handle: incoming.handle }),
        offset,
      });
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(incoming.payload.toString('utf8'));
    } catch {
      this.fail('control frame is not JSON', offset);
      return;
    }
    if (typeof message !== 'object' || message === null || typeof (message as { op?: unknown }).op !== 'string') {
      this.fail('control frame has no "op"', offset);
      return;
    }
    this.onFrame({ frame: { type: FrameType.Control, message: message as ControlMessage }, controlBytes: incoming.payload.length, offset });
  }

  private fail(reason: string, offset: number): false {
    this.failed ??= { reason, offset };
    this.incoming = undefined;
    this.headerBytes = 0;
    return false;
  }
}
