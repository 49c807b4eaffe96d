import { propertySettings } from '@ckpt/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeHeader,
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  MAX_CONTROL_BYTES,
  MAX_FRAME_BYTES,
  MAX_HANDSHAKE_BYTES,
  type DecodedFrame,
  type DecodeFailure,
  type Frame,
} from './frame-codec.js';

/** A frame as the test specifies it: what it decodes to, and its bytes on the wire. */
interface WireFrame {
  readonly type: FrameType;
  readonly payload: Buffer;
}

const encode = (frames: readonly WireFrame[]): Buffer => Buffer.concat(frames.flatMap((f) => [encodeHeader(f.type, f.payload.length), f.payload]));

/** Stream offset of each frame's header, and the end. */
const offsetsOf = (frames: readonly WireFrame[]): number[] => {
  const offsets = [0];
  for (const f of frames) offsets.push(offsets.at(-1)! + HEADER_BYTES + f.payload.length);
  return offsets;
};

/** What a frame decodes to, for comparison (data bytes copied: they may be reused). */
const view = (frame: Frame) =>
  frame.type === FrameType.Control ? { control: frame.message } : { type: frame.type, data: Buffer.from(frame.data).toString('hex') };
const expected = (f: WireFrame) =>
  f.type === FrameType.Control ? { control: JSON.parse(f.payload.toString('utf8')) } : { type: f.type, data: f.payload.toString('hex') };

/** A decoder past the handshake with data agreed, unless `phase` says otherwise, collecting what it decodes. */
function decoder(phase: 'handshake' | 'authenticated' | 'data' = 'data') {
  const frames: DecodedFrame<never>[] = [];
  const d = new FrameDecoder((decoded) => frames.push(decoded));
  if (phase !== 'handshake') d.authenticated();
  if (phase === 'data') d.acceptData(true);
  return { d, frames };
}

/** Feeds `bytes` as chunks cut at `cuts`. */
function feedChunks(d: FrameDecoder, bytes: Buffer, cuts: readonly number[]): void {
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (cut <= at) continue;
    if (!d.write(bytes.subarray(at, cut))) return;
    at = cut;
  }
}

/** Feeds `bytes` the way a socket's `onread` does: into the decoder's own buffer, at most `reads[i]` bytes a read. */
function feedReadInto(d: FrameDecoder, bytes: Buffer, reads: readonly number[]): void {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const into = d.readBuffer();
    if (into.length === 0) throw new Error(`the decoder offered no room at byte ${at}`);
    const n = Math.min(into.length, bytes.length - at, 1 + (reads.length > 0 ? reads[i % reads.length]! : into.length));
    bytes.copy(into, 0, at, at + n);
    at += n;
    if (!d.didRead(n)) return;
  }
}

const controlFrame = (message: object): WireFrame => ({ type: FrameType.Control, payload: Buffer.from(JSON.stringify(message)) });

const wireFrameArbitrary: fc.Arbitrary<WireFrame> = fc.oneof(
  fc.record({ op: fc.string({ maxLength: 12 }), n: fc.integer() }).map(controlFrame),
  fc.record({ op: fc.constant('pad'), text: fc.string({ maxLength: 3000 }) }).map(controlFrame),
  fc
    .tuple(fc.constantFrom<FrameType>(FrameType.Data, FrameType.CompressedData), fc.uint8Array({ maxLength: 3000 }))
    .map(([type, bytes]) => ({ type, payload: Buffer.from(bytes) })),
  fc.tuple(fc.constantFrom(0, 1, 4, 5, 6, 70_000), fc.nat(255)).map(([size, fill]) => ({ type: FrameType.Data, payload: Buffer.alloc(size, fill) })),
);
const streamArbitrary = fc.array(wireFrameArbitrary, { minLength: 1, maxLength: 8 });
const MODES = ['chunks', 'read-into'] as const;
const feed = (mode: (typeof MODES)[number], d: FrameDecoder, bytes: Buffer, cuts: readonly number[]) =>
  mode === 'chunks'
    ? feedChunks(d, bytes, cuts)
    : feedReadInto(
        d,
        bytes,
        cuts.map((c) => c % 9000),
      );

describe('FrameDecoder', () => {
  it('decodes what encodeHeader frames: control, data, compressed data, an empty data frame', () => {
    const frames = [
      controlFrame({ op: 'hello', n: 1 }),
      { type: FrameType.Data, payload: Buffer.from('abc') },
      { type: FrameType.CompressedData, payload: Buffer.from([1, 2]) },
      { type: FrameType.Data, payload: Buffer.alloc(0) },
    ];
    const { d, frames: got } = decoder();
    expect(d.write(encode(frames))).toBe(true);
    expect(got.map((g) => view(g.frame))).toEqual(frames.map(expected));
    expect(got.map((g) => g.offset)).toEqual(offsetsOf(frames).slice(0, -1));
    expect(d.end()).toBeUndefined();
    expect(d.offset).toBe(encode(frames).length);
  });

  it.each(MODES)('property: any cutting of a valid stream into reads (%s) decodes the same frames at the same offsets', (mode) => {
    fc.assert(
      fc.property(streamArbitrary, fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const bytes = encode(frames);
        const { d, frames: got } = decoder();
        feed(mode, d, bytes, cuts);
        expect(d.failure).toBeUndefined();
        expect(got.map((g) => view(g.frame))).toEqual(frames.map(expected));
        expect(got.map((g) => g.offset)).toEqual(offsetsOf(frames).slice(0, -1));
        expect(d.end()).toBeUndefined();
      }),
      propertySettings(150),
    );
  });

  it.each(MODES)(
    'property: a stream cut inside a frame (%s) is an error naming that frame and where it ended; the frames before it are intact',
    (mode) => {
      fc.assert(
        fc.property(streamArbitrary, fc.nat(), fc.array(fc.nat(), { maxLength: 10 }), (frames, cutSeed, cuts) => {
          const bytes = encode(frames);
          const offsets = offsetsOf(frames);
          const cut = cutSeed % bytes.length;
          const { d, frames: got } = decoder();
          feed(mode, d, bytes.subarray(0, cut), cuts);
          const whole = offsets.findIndex((o) => o > cut) - 1; // frames that start before the cut
          const failure = d.end();
          if (offsets.includes(cut)) {
            // A cut between frames is a shorter valid stream.
            expect(failure).toBeUndefined();
            expect(got).toHaveLength(offsets.indexOf(cut));
            return;
          }
          expect(got.map((g) => view(g.frame))).toEqual(frames.slice(0, whole).map(expected));
          expect(failure).toEqual({
            offset: offsets[whole],
            reason: `the stream ended at byte ${cut}, inside the frame that starts at byte ${offsets[whole]}`,
          });
          expect(d.write(Buffer.from([0, 0, 0, 2, 1, 0x7b]))).toBe(false); // nothing is decoded after an error
        }),
        propertySettings(150),
      );
    },
  );

  /** Corruptions the framing can detect, each applied to one frame of a valid stream. */
  const corruptions: Record<
    string,
    {
      readonly applies: (f: WireFrame) => boolean;
      readonly corrupt: (bytes: Buffer, at: number) => void;
      readonly reason: RegExp;
      readonly phase?: 'handshake' | 'authenticated';
    }
  > = {
    'length 0': { applies: () => true, corrupt: (b, at) => b.writeUInt32BE(0, at), reason: /^frame of 0 bytes is outside 1\.\.1048577$/ },
    'length over the limit': {
      applies: () => true,
      corrupt: (b, at) => b.writeUInt32BE(MAX_FRAME_BYTES + 1 + (b[at + 3]! << 8), at),
      reason: /^frame of \d+ bytes is outside 1\.\.1048577$/,
    },
    'unknown type': { applies: () => true, corrupt: (b, at) => void (b[at + 4] = 4 + (b[at + 4]! % 200)), reason: /^unknown frame type \d+$/ },
    'control payload not JSON': {
      applies: (f) => f.type === FrameType.Control,
      corrupt: (b, at) => void (b[at + HEADER_BYTES] = 0x7d),
      reason: /^control frame is not JSON$/,
    },
    'control JSON without an op': {
      applies: (f) => f.type === FrameType.Control && f.payload.length >= 2,
      corrupt: (b, at) => {
        const length = b.readUInt32BE(at) - 1;
        b.fill(0x20, at + HEADER_BYTES, at + HEADER_BYTES + length);
        b.write('[]', at + HEADER_BYTES);
      },
      reason: /^control frame has no "op"$/,
    },
    'data before the transfer was agreed': {
      applies: (f) => f.type !== FrameType.Control,
      corrupt: () => undefined,
      reason: /^data frame before the transfer was agreed$/,
      phase: 'authenticated',
    },
  };

  it.each(MODES)(
    'property: a corrupted header or control payload (%s) is an error naming the frame at fault; frames before it are intact, none after',
    (mode) => {
      fc.assert(
        fc.property(
          streamArbitrary,
          fc.nat(),
          fc.constantFrom(...Object.keys(corruptions)),
          fc.array(fc.nat(), { maxLength: 10 }),
          (frames, pick, name, cuts) => {
            const corruption = corruptions[name]!;
            const candidates = frames.map((_frame, i) => i).filter((i) => corruption.applies(frames[i]!));
            fc.pre(candidates.length > 0);
            // The frames before the victim must be acceptable in the phase the corruption needs.
            const victim = corruption.phase === 'authenticated' ? candidates[0]! : candidates[pick % candidates.length]!;
            const bytes = encode(frames);
            const offsets = offsetsOf(frames);
            corruption.corrupt(bytes, offsets[victim]!);
            const { d, frames: got } = decoder(corruption.phase ?? 'data');
            feed(mode, d, bytes, cuts);
            d.end();
            expect(d.failure?.offset).toBe(offsets[victim]);
            expect(d.failure?.reason).toMatch(corruption.reason);
            expect(got.map((g) => view(g.frame))).toEqual(frames.slice(0, victim).map(expected));
          },
        ),
        propertySettings(200),
      );
    },
  );

  it.each(MODES)('property: arbitrary bytes (%s) end in frames that account for every byte, or in one error at an offset within them', (mode) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 10 }), (input, cuts) => {
        const bytes = Buffer.from(input);
        const { d, frames } = decoder();
        feed(mode, d, bytes, cuts);
        const failure: DecodeFailure | undefined = d.failure ?? d.end();
        if (failure === undefined) {
          const accounted = frames.reduce(
            (sum, g) => sum + HEADER_BYTES + (g.frame.type === FrameType.Control ? g.controlBytes! : g.frame.data.length),
            0,
          );
          expect(accounted).toBe(bytes.length);
        } else {
          expect(failure.offset).toBeGreaterThanOrEqual(0);
          expect(failure.offset).toBeLessThan(bytes.length);
          expect(failure.reason).not.toBe('');
        }
      }),
      propertySettings(300),
    );
  });

  it('holds control frames to the handshake limit until authenticated, and to the session limit after', () => {
    const pad = (size: number) => controlFrame({ op: 'x', pad: 'y'.repeat(size - 19) });
    expect(pad(MAX_HANDSHAKE_BYTES).payload.length).toBe(MAX_HANDSHAKE_BYTES);
    const handshake = decoder('handshake');
    expect(handshake.d.write(encode([pad(MAX_HANDSHAKE_BYTES)]))).toBe(true);
    expect(handshake.d.write(encode([pad(MAX_HANDSHAKE_BYTES + 1)]))).toBe(false);
    expect(handshake.d.failure).toEqual({
      offset: HEADER_BYTES + MAX_HANDSHAKE_BYTES,
      reason: `control frame of ${MAX_HANDSHAKE_BYTES + 1} bytes exceeds ${MAX_HANDSHAKE_BYTES}`,
    });
    const session = decoder('authenticated');
    expect(session.d.write(encode([pad(MAX_HANDSHAKE_BYTES + 1), pad(MAX_CONTROL_BYTES)]))).toBe(true);
    expect(session.d.write(encode([pad(MAX_CONTROL_BYTES + 1)]))).toBe(false);
  });

  it('has one authenticated transition, and agrees to data only after it', () => {
    const { d } = decoder('handshake');
    expect(() => d.acceptData(true)).toThrow(/only after authentication/);
    d.authenticated();
    expect(() => d.authenticated()).toThrow(/already authenticated/);
    d.acceptData(true);
    expect(d.write(encode([{ type: FrameType.Data, payload: Buffer.from('x') }]))).toBe(true);
    d.acceptData(false);
    expect(d.write(encode([{ type: FrameType.Data, payload: Buffer.from('x') }]))).toBe(false);
    expect(d.failure).toEqual({ offset: 6, reason: 'data frame before the transfer was agreed' });
  });
});
