/**
 * `@ckpt/file-transfer/internal`: everything `@ckpt/file-transfer` exports, and the building
 * blocks behind it, for the CLI, the testkit and the tests (as fast-check and core do). Not a
 * stable API: these names may change between releases.
 */
export * from './index.js';
export { CHAIN_SEED, ChainHasher } from './transfer/chain-hash.js';
export type { ChainPosition } from './transfer/chain-hash.js';
export { fingerprintChange } from './transfer/fingerprint.js';
export type { SourceFingerprint } from './transfer/fingerprint.js';
export { receiveFile, receiveRunner, runReceive } from './transfer/receiver.js';
export type { ReceiveJob, ReceiveOptions, ReceiveView, TransferNotice } from './transfer/receiver.js';
export { retryDelay, withRetries } from './transfer/retry-policy.js';
export type { RetryNotice } from './transfer/retry-policy.js';
export { KEPT_POSITIONS, TRANSFER_NAMESPACE, transferReducer, transferStateOf } from './transfer/transfer-reducer.js';
export type { TransferState } from './transfer/transfer-reducer.js';
export { LocalSource } from './transfer/local-source.js';
export type { SourceInfo, SourcePort, SourceStream } from './transfer/source-port.js';
export { nodeOf, parseEndpoint } from './net/netmap.js';
export type { Endpoint } from './net/netmap.js';
export { checkPathText, confinePath } from './net/confine.js';
export { encodeHeader, FrameDecoder } from './net/frame-codec.js';
export type { DataMemory, DecodedFrame, DecodeFailure } from './net/frame-codec.js';
export {
  FrameType,
  FramedConnection,
  MAX_COMPRESSED_SLICE,
  MAX_CONTROL_BYTES,
  MAX_DATA_PAYLOAD,
  MAX_FRAME_BYTES,
  ProtocolError,
} from './net/framed-connection.js';
export type { ConnectionOptions, ControlMessage, Frame, ReadInto } from './net/framed-connection.js';
export { PROTOCOL, authenticateClient } from './net/handshake.js';
