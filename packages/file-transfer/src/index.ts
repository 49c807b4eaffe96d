/**
 * @ckpt/file-transfer: resumable file copies with Connect:Direct checkpoint restart — local,
 * push and pull between nodes — verified end to end, with retries, a node server and a netmap.
 *
 * This entry is what an embedder needs: copy a file or a tree, run a node, read a netmap,
 * recognise the errors, and name a transfer's checkpoint and companions (to find or prune them).
 * The building blocks (the receiver as a core runner, the wire framing and handshake, the
 * reducer, the sources) are in `@ckpt/file-transfer/internal`, for the CLI and the tests: they
 * may change between releases.
 */
export { copyFile } from './copy-file.js';
export type { CopyFileOptions } from './copy-file.js';
export { copyTree } from './copy-tree.js';
export type { CopyTreeOptions, TreeResult } from './copy-tree.js';
export { AuthenticationError, HashUnavailableError, PathRefusedError, TransferError, isRetryable } from './errors.js';
export { checkpointPathOf, partialPathOf, transferCompanions, TRANSFER_KIND } from './transfer/names.js';
export { DEFAULT_CHECKPOINT_INTERVAL } from './transfer/receiver.js';
export { DEFAULT_HASH, HASH_ALGORITHMS } from './transfer/chain-hash.js';
export type { HashAlgorithm } from './transfer/chain-hash.js';
export type { TransferEvent, TransferProgress, TransferResult, VerifyMode } from './transfer/receiver.js';
export { DEFAULT_RETRY_POLICY } from './transfer/retry-policy.js';
export type { RetryPolicy } from './transfer/retry-policy.js';
export { loadNetmap, parseAddress } from './net/netmap.js';
export type { Netmap, NetmapNode } from './net/netmap.js';
export { NodeServer } from './net/node-server.js';
export type { NodeServerOptions, ServerEvent } from './net/node-server.js';
