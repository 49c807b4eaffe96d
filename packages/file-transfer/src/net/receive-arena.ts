/**
 * Memory for received frame payloads, reused instead of allocated per frame.
 *
 * A fresh Buffer per received frame costs more than the copy into it: every ArrayBuffer
 * counts as external memory, and a receiver that allocates ~1 GiB of them per GiB received
 * drives V8 into back-to-back full (mark-compact) collections — measured at 85–90 per GiB on
 * the server of a loopback push, ~0.5 s of main-thread pause plus the concurrent marking
 * threads, on a box where the sender and the receiver share two cores.
 *
 * The arena hands out leases: byte ranges carved one after the other from fixed-size blocks.
 * A block goes back to the spare list when its last lease is released, so a consumer that
 * releases each frame before taking the next one keeps reusing the same one or two blocks.
 * Memory is `blocksInUse × blockBytes` plus a bounded number of spare blocks.
 */
export class ReceiveArena {
  private readonly spare: ArenaBlock[] = [];
  private current: ArenaBlock | undefined;
  private blocksInUse = 0;

  constructor(
    /** Size of each block; also the largest lease. */
    readonly blockBytes: number,
    /** Spare blocks kept for reuse; blocks released beyond this are left to the GC. */
    private readonly maxSpare: number,
  ) {}

  /** Bytes held by blocks that have a live lease or are being filled (spares not included). */
  get bytesInUse(): number {
    return this.blocksInUse * this.blockBytes;
  }

  /** Bytes held in all, spare blocks included. */
  get bytesHeld(): number {
    return (this.blocksInUse + this.spare.length) * this.blockBytes;
  }

  /** `bytes` bytes of uninitialised memory, valid until {@link release}. */
  lease(bytes: number): Lease {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.blockBytes)
      throw new RangeError(`a lease of ${bytes} bytes is outside 0..${this.blockBytes}`);
    let block = this.current;
    if (block === undefined || block.buffer.length - block.used < bytes) {
      // The current block is full: it stays alive while its leases do.
      if (block !== undefined && block.leases === 0) this.recycle(block);
      block = this.spare.pop() ?? { buffer: Buffer.allocUnsafeSlow(this.blockBytes), used: 0, leases: 0 };
      this.blocksInUse++;
      this.current = block;
    }
    const lease = { bytes: block.buffer.subarray(block.used, block.used + bytes), block };
    block.used += bytes;
    block.leases++;
    return lease;
  }

  /** Gives a lease back; its bytes may be handed out again at once. */
  release(lease: Lease): void {
    const block = lease.block;
    if (block.leases <= 0) throw new Error('a lease was released twice');
    block.leases--;
    if (block.leases > 0) return;
    // Nothing lives in the block any more: fill it again from the start.
    if (block === this.current) block.used = 0;
    else this.recycle(block);
  }

  private recycle(block: ArenaBlock): void {
    this.blocksInUse--;
    block.used = 0;
    if (this.spare.length < this.maxSpare) this.spare.push(block);
  }
}

/** One block of an arena (opaque outside it). */
export interface ArenaBlock {
  readonly buffer: Buffer;
  used: number;
  leases: number;
}

/** A range of an arena block. */
export interface Lease {
  readonly bytes: Buffer;
  readonly block: ArenaBlock;
}
