/**
 * @ckpt/file-transfer: resumable file copies with Connect:Direct checkpoint restart — local,
 * push and pull between nodes — verified end to end, with retries, a node server and a netmap.
 */
export { copyFile } from './copy-file.js';
export type { CopyFileOptions } from './copy-file.js';
export { copyTree } from './copy-tree.js';
export type { CopyTreeOptions, TreeResult } from './copy-tree.js';
export { AuthenticationError, PathRefusedError, TransferError, isRetryable } from './errors.js';
export { CHAIN_SEED, ChainHasher } from './transfer/chain-hash.js';
export type { ChainPosition } from './transfer/chain-hash.js';
export { fingerprintChange } from './transfer/fingerprint.js';
export type { SourceFingerprint } from './transfer/fingerprint.js';
export { checkpointPathOf, partialPathOf, transferCompanions, TRANSFER_KIND } from './transfer/names.js';
export { DEFAULT_CHECKPOINT_INTERVAL, receiveFile, receiveRunner } from './transfer/receiver.js';
export type { ReceiveJob, ReceiveOptions, TransferEvent, TransferProgress, TransferResult, VerifyMode } from './transfer/receiver.js';
export { DEFAULT_RETRY_POLICY, retryDelay, withRetries } from './transfer/retry-policy.js';
export type { RetryNotice, RetryPolicy } from './transfer/retry-policy.js';
export { KEPT_POSITIONS, TRANSFER_NAMESPACE, transferReducer, transferStateOf } from './transfer/transfer-reducer.js';
export type { TransferState } from './transfer/transfer-reducer.js';
export { LocalSource } from './transfer/local-source.js';
export type { SourceInfo, SourcePort, SourceStream } from './transfer/source-port.js';
export { loadNetmap, nodeOf, parseAddress, parseEndpoint } from './net/netmap.js';
export type { Endpoint, Netmap, NetmapNode } from './net/netmap.js';
export { NodeServer } from './net/node-server.js';
export type { NodeServerOptions, ServerEvent } from './net/node-server.js';
export { checkPathText, confinePath } from './net/confine.js';
export { FrameType, FramedConnection, MAX_COMPRESSED_SLICE, MAX_CONTROL_BYTES, MAX_DATA_PAYLOAD, MAX_FRAME_BYTES, ProtocolError } from './net/framed-connection.js';
export type { ReadInto } from './net/framed-connection.js';
export { PROTOCOL, authenticateClient } from './net/handshake.js';
