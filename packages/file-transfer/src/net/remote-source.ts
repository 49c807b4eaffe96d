import { InterruptedError, InvalidInputError, isCkptError } from '@ckpt/core';
import { AuthenticationError, DestinationLockedError, PathRefusedError, TransferError } from '../errors.js';
import {
  isChainOf,
  isHashAlgorithm,
  LEGACY_HASH,
  loadChainAlgorithm,
  type ChainAlgorithm,
  type ChainPosition,
  type HashAlgorithm,
} from '../transfer/chain-hash.js';
import type { SourcePort, SourceInfo, SourceStream } from '../transfer/source-port.js';
import { HELD_DATA_FRAMES, type ControlMessage, type FramedConnection } from './framed-connection.js';

/** An error as it travels: `{op: 'error', code, message}`. */
export function errorMessage(error: unknown): ControlMessage {
  const code = error instanceof AuthenticationError ? 'auth' : isCkptError(error) ? error.code : 'io';
  const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  return { op: 'error', code, message };
}

/** The local error for a peer's `error` message: refusals stay refusals (exit 2), the rest may heal. */
export function errorFromPeer(message: ControlMessage, peer: string): Error {
  const text = `node ${peer}: ${String(message['message'] ?? 'error')}`;
  switch (message['code']) {
    case 'auth':
      return new AuthenticationError(text);
    case 'invalid':
      return new PathRefusedError(text);
    case 'locked':
      return new DestinationLockedError(text);
    case 'mismatch':
    case 'corrupt':
    case 'not-found':
      return new InvalidInputError(text);
    default:
      return new TransferError(text);
  }
}

function unexpected(message: ControlMessage, peer: string, expected: string): Error {
  return message.op === 'error'
    ? errorFromPeer(message, peer)
    : new TransferError(`node ${peer} sent "${message.op}" where "${expected}" was expected`);
}

/** The sender is the peer: requests travel as control messages, data comes back in frames. */
export class RemoteSource implements SourcePort {
  constructor(
    private readonly connection: FramedConnection,
    private readonly info: SourceInfo,
    private readonly peer: string,
    private readonly onMessage?: (message: ControlMessage) => void,
    /** Ask the sender to compress data frames (offsets stay source offsets, so restart is unaffected). */
    private readonly compress = false,
    /** What the peer can hash: from its `ready` (a node) or its `put` (a client); SHA-256 alone for an older peer. */
    readonly hashes: readonly HashAlgorithm[] = [LEGACY_HASH],
  ) {}

  async describe(): Promise<SourceInfo> {
    return this.info;
  }

  private async control(expected: string): Promise<ControlMessage> {
    for (;;) {
      const message = await this.connection.receiveControl();
      if (message.op === 'event') {
        this.onMessage?.(message);
        continue;
      }
      if (message.op !== expected) throw unexpected(message, this.peer, expected);
      return message;
    }
  }

  async hashRange(from: ChainPosition, to: number, interval: number, algorithm: ChainAlgorithm): Promise<string | undefined> {
    await this.connection.sendControl({ op: 'hash', from: from.offset, chain: from.chain, to, interval, ...algorithmField(algorithm) });
    const answer = await this.control('hashed');
    return typeof answer['chain'] === 'string' ? answer['chain'] : undefined;
  }

  async stream(from: ChainPosition, interval: number, at: number, algorithm: ChainAlgorithm): Promise<SourceStream> {
    const connection = this.connection;
    const peer = this.peer;
    await connection.sendControl({
      op: 'send',
      offset: from.offset,
      chain: from.chain,
      interval,
      ...algorithmField(algorithm),
      ...(at !== from.offset && { at }),
      ...(this.compress && { compress: true }),
    });
    connection.acceptData(true);
    let digest: string | undefined;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (;;) {
        // Asking for the next frame releases the memory of the one HELD_DATA_FRAMES + 1 back
        // to the connection, as the stream's `held` tells the consumer.
        const frame = await connection.receiveData();
        if ('data' in frame) {
          yield frame.data;
          continue;
        }
        if (frame.message.op === 'eof') {
          digest = typeof frame.message['digest'] === 'string' ? frame.message['digest'] : undefined;
          connection.acceptData(false);
          return;
        }
        throw unexpected(frame.message, peer, 'eof');
      }
    }
    return {
      chunks: chunks(),
      held: HELD_DATA_FRAMES,
      digest: async () => {
        if (digest === undefined) throw new TransferError(`node ${peer} ended the data without its digest`);
        return digest;
      },
    };
  }

  async close(): Promise<void> {}
}

const isByteCount = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** `algorithm` of a `hash` or `send`: absent for SHA-256, so a peer of any revision reads it as before. */
const algorithmField = (algorithm: ChainAlgorithm): { algorithm?: HashAlgorithm } =>
  algorithm.name === LEGACY_HASH ? {} : { algorithm: algorithm.name };

/** The chain hash a `hash` or `send` names (absent: SHA-256), loaded; undefined when this revision does not know it. */
async function requestedAlgorithm(message: ControlMessage): Promise<ChainAlgorithm | undefined> {
  const name = message['algorithm'] ?? LEGACY_HASH;
  return isHashAlgorithm(name) && isChainOf(name, message['chain']) ? loadChainAlgorithm(name) : undefined;
}

/**
 * The sending side of the wire: answers `hash` and `send` from a local source until a message
 * it does not handle arrives, which it returns (`done`, `error`, `bye`).
 */
export async function serveSource(connection: FramedConnection, source: SourcePort, signal?: AbortSignal): Promise<ControlMessage> {
  for (;;) {
    const message = await connection.receiveControl();
    switch (message.op) {
      case 'hash': {
        const from = { offset: Number(message['from']), chain: String(message['chain']) };
        const to = Number(message['to']);
        const interval = Number(message['interval']);
        const algorithm = await requestedAlgorithm(message);
        if (![message['from'], message['to'], message['interval']].every(isByteCount) || !algorithm || to < from.offset) {
          throw new TransferError('malformed hash request');
        }
        const chain = await source.hashRange(from, to, interval, algorithm);
        await connection.sendControl({ op: 'hashed', chain: chain ?? null });
        break;
      }
      case 'send': {
        const from = { offset: Number(message['offset']), chain: String(message['chain']) };
        const interval = Number(message['interval']);
        const at = message['at'] === undefined ? from.offset : Number(message['at']);
        const algorithm = await requestedAlgorithm(message);
        if (![message['offset'], message['interval'], at].every(isByteCount) || !algorithm || at < from.offset)
          throw new TransferError('malformed send request');
        const stream = await source.stream(from, interval, at, algorithm);
        for await (const chunk of stream.chunks) {
          if (signal?.aborted) throw new InterruptedError('the node is shutting down');
          await connection.sendData(chunk, message['compress'] === true);
        }
        await connection.sendControl({ op: 'eof', digest: (await stream.digest()) ?? null });
        break;
      }
      default:
        return message;
    }
  }
}
