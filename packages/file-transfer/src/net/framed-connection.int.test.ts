import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { frameAcceptedSocket } from './accepted-socket.js';
import { FramedConnection, FrameType, MAX_DATA_PAYLOAD, ProtocolError, type ControlMessage } from './framed-connection.js';

const MiB = 1024 * 1024;
/** What a receiving connection may hold, whatever the peer sends (docs/protocol.md). */
// HIGH_WATER (2 MiB) + the block being filled + the frame taken + HELD_DATA_FRAMES held, plus slack.
const RECEIVE_BOUND = 6 * MiB + 64 * 1024;

/** How the receiving side reads: Node's `data` events, `onread` on a socket it created, or an adopted accepted socket. */
const MODES = ['data events', 'read-into (net.connect onread)', 'read-into (adopted accepted socket)'] as const;
type Mode = (typeof MODES)[number];

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A connected pair on 127.0.0.1: `receiver` is framed in `mode`, `peer` is the raw other end. */
async function pair(mode: Mode): Promise<{ receiver: FramedConnection; peer: Socket; accepted: Socket }> {
  const server = createServer({ pauseOnConnect: mode !== 'data events' });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection').then(([socket]) => socket as Socket);
  if (mode === 'read-into (net.connect onread)') {
    const receiver = new FramedConnection((onread) => connect({ host: '127.0.0.1', port, onread }), 10_000);
    sockets.push(receiver.socket);
    const peer = await accepted;
    sockets.push(peer);
    peer.resume();
    return { receiver, peer, accepted: peer };
  }
  const peer = connect({ host: '127.0.0.1', port });
  sockets.push(peer);
  const socket = await accepted;
  sockets.push(socket);
  const receiver = mode === 'data events' ? new FramedConnection(socket, 10_000) : frameAcceptedSocket(socket, 10_000);
  sockets.push(receiver.socket);
  return { receiver, peer, accepted: socket };
}

function frame(type: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length + 1, 0);
  header[4] = type;
  return Buffer.concat([header, payload]);
}
const control = (message: ControlMessage) => frame(FrameType.Control, Buffer.from(JSON.stringify(message)));

/** Writes `bytes` in pieces cut at `cuts`, yielding to the event loop between pieces so they arrive as separate reads. */
async function writeInPieces(socket: Socket, bytes: Buffer, cuts: number[]): Promise<void> {
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (cut <= at) continue;
    await new Promise<void>((resolve, reject) => socket.write(bytes.subarray(at, cut), (error) => (error ? reject(error) : resolve())));
    await new Promise((resolve) => setImmediate(resolve));
    at = cut;
  }
}

describe.each(MODES)('FramedConnection receiving via %s', (mode) => {
  it('delivers frames cut at any byte boundary intact and in order', async () => {
    const sizes = fc.constantFrom(0, 1, 4, 5, 6, 4096, 65_536 + 3, 300_000, MAX_DATA_PAYLOAD);
    await fc.assert(
      fc.asyncProperty(fc.array(sizes, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 40 }), async (dataSizes, cuts) => {
        const { receiver, peer } = await pair(mode);
        receiver.authenticated('peer');
        receiver.acceptData(true);
        const payloads = dataSizes.map((size, i) => Buffer.alloc(size, i + 1));
        const packed = deflateRawSync(Buffer.alloc(200_000, 7));
        const bytes = Buffer.concat([
          control({ op: 'first' }),
          ...payloads.map((p) => frame(FrameType.Data, p)),
          frame(FrameType.CompressedData, packed),
          control({ op: 'last', n: 1 }),
        ]);
        const writing = writeInPieces(peer, bytes, cuts);
        expect(await receiver.receiveControl()).toEqual({ op: 'first' });
        for (const payload of payloads) {
          const got = await receiver.receiveData();
          expect('data' in got && Buffer.compare(got.data, payload)).toBe(0);
        }
        const inflated = await receiver.receiveData();
        expect('data' in inflated && inflated.data.equals(Buffer.alloc(200_000, 7))).toBe(true);
        expect(await receiver.receiveControl()).toEqual({ op: 'last', n: 1 });
        await writing;
        receiver.destroy();
        peer.destroy();
      }),
      { numRuns: 6 },
    );
  });

  it.each([
    ['an oversized frame', () => Buffer.from([0xff, 0xff, 0xff, 0xf0, 2])],
    ['an empty frame', () => Buffer.from([0, 0, 0, 0, 1])],
    ['an unknown frame type', () => frame(9, Buffer.from('x'))],
    ['a control frame over the pre-authentication limit', () => control({ op: 'x', pad: 'y'.repeat(5000) })],
    ['a data frame before the transfer was agreed', () => frame(FrameType.Data, Buffer.alloc(10))],
    ['a control frame that is not JSON', () => frame(FrameType.Control, Buffer.from('{{'))],
  ])('closes the connection on %s', async (_name, bytes) => {
    const { receiver, peer } = await pair(mode);
    const closed = once(receiver.socket, 'close');
    peer.write(bytes());
    await expect(receiver.receive()).rejects.toBeInstanceOf(ProtocolError);
    await closed;
  });

  it('names the stream offset: of a frame that breaks the protocol, and of a frame the peer cut off by closing', async () => {
    const broken = await pair(mode);
    broken.peer.on('error', () => undefined); // the receiver resets the connection it closes
    broken.peer.write(Buffer.concat([control({ op: 'ok' }), frame(9, Buffer.from('x'))]));
    expect(await broken.receiver.receiveControl()).toEqual({ op: 'ok' });
    await expect(broken.receiver.receive()).rejects.toThrow(/unknown frame type 9 \(frame at byte 16\)/);
    const cut = await pair(mode);
    cut.peer.end(control({ op: 'ok' }).subarray(0, 9));
    await expect(cut.receiver.receive()).rejects.toThrow(/closed \(the stream ended at byte 9, inside the frame that starts at byte 0\)/);
  });

  it('stays within its memory bound while the consumer does not read, pauses the socket, and loses nothing', async () => {
    const { receiver, peer } = await pair(mode);
    receiver.authenticated('peer');
    receiver.acceptData(true);
    const sender = new FramedConnection(peer, 10_000);
    // More than the socket buffers of both ends can hold, so that the sender must wait.
    const frames = 80;
    let sent = 0;
    const sending = (async () => {
      const buffer = Buffer.allocUnsafe(MiB);
      for (let i = 0; i < frames; i++) {
        // One buffer reused: sendData resolves only once the socket has taken every byte.
        buffer.fill(i % 251);
        await sender.sendData(buffer);
        sent++;
      }
    })();
    // Wait until the sender is blocked by TCP flow control.
    let last = -1;
    while (sent !== last) {
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(sent).toBeLessThan(frames);
    expect(receiver.bufferedBytes).toBeLessThanOrEqual(RECEIVE_BOUND);
    expect(receiver.socket.isPaused()).toBe(true);
    for (let i = 0; i < frames; i++) {
      const got = await receiver.receiveData();
      if (!('data' in got)) throw new Error(`frame ${i} is not data`);
      expect(got.data.equals(Buffer.alloc(MiB, i % 251))).toBe(true);
      expect(receiver.bufferedBytes).toBeLessThanOrEqual(RECEIVE_BOUND);
    }
    await sending;
  });

  it('closes a connection idle past its timeout', async () => {
    const { receiver } = await pair(mode);
    await expect(receiver.receive(200)).rejects.toThrow(/no data .* for 0s/);
    expect(receiver.socket.destroyed).toBe(true);
  });
});

describe('frameAcceptedSocket', () => {
  it('moves a paused plain socket into one that reads into its frames; it speaks both ways and closes', async () => {
    const { receiver, peer, accepted } = await pair('read-into (adopted accepted socket)');
    expect(receiver.socket).not.toBe(accepted);
    expect(accepted.destroyed).toBe(true);
    const other = new FramedConnection(peer, 10_000);
    await receiver.sendControl({ op: 'ping' });
    expect(await other.receiveControl()).toEqual({ op: 'ping' });
    await other.sendControl({ op: 'pong' });
    expect(await receiver.receiveControl()).toEqual({ op: 'pong' });
    const closed = once(peer, 'close');
    receiver.end();
    await closed;
  });

  it('keeps a socket that is already flowing (it may have read data) on the data-event path', async () => {
    const server = createServer();
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const peer = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
    sockets.push(peer);
    const [accepted] = (await once(server, 'connection')) as [Socket];
    sockets.push(accepted);
    const framed = frameAcceptedSocket(accepted, 10_000);
    expect(framed.socket).toBe(accepted);
    peer.write(control({ op: 'hello' }));
    expect(await framed.receiveControl()).toEqual({ op: 'hello' });
  });
});
