// A FIFO of bytes kept in fixed-size blocks from a pool that the queues of one download share: what a
// parallel download holds of the parts that arrived ahead of the part being delivered.
// Why blocks and not one ring of partSize per part (the first design): a part in flight then held
// a whole partSize of memory from its first byte, and a reused ring had all its pages touched, so
// RSS was concurrency × partSize even when the parts held far less. Blocks go back to the pool as
// they are read and come out again for the next bytes: memory follows the bytes actually held
// (rounded up to blocks), and the blocks are never garbage (V8 frees array buffers only at a GC,
// so every buffer thrown away is memory held until then).

/** Blocks of one size, reused: `take` makes a new one only when none is free. */
export class BlockPool {
  #free: Uint8Array[] = [];

  constructor(readonly blockSize: number) {}

  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.blockSize);
  }

  give(block: Uint8Array): void {
    this.#free.push(block);
  }
}

/** Bytes in, in order; bytes out, in order, each out chunk a copy of its own (the reader keeps it). */
export class ByteQueue {
  #blocks: Uint8Array[] = [];
  /** Where reading goes on in the first block. */
  #readAt = 0;
  /** Where writing goes on in the last block. */
  #writeAt = 0;
  /** Bytes held. */
  length = 0;

  constructor(readonly pool: BlockPool) {}

  /** Copies `bytes` in. */
  push(bytes: Uint8Array): void {
    const { blockSize } = this.pool;
    for (let at = 0; at < bytes.length;) {
      if (!this.#blocks.length || this.#writeAt === blockSize) {
        this.#blocks.push(this.pool.take());
        this.#writeAt = 0;
      }
      const count = Math.min(blockSize - this.#writeAt, bytes.length - at);
      this.#blocks[this.#blocks.length - 1].set(bytes.subarray(at, at + count), this.#writeAt);
      this.#writeAt += count;
      at += count;
    }
    this.length += bytes.length;
  }

  /** The next bytes (at most `maxBytes`, never across a block's end) as a new array; undefined when empty. */
  shift(maxBytes: number): Uint8Array | undefined {
    if (!this.length) return undefined;
    const first = this.#blocks[0];
    const end = this.#blocks.length === 1 ? this.#writeAt : this.pool.blockSize;
    const count = Math.min(maxBytes, end - this.#readAt);
    const bytes = first.slice(this.#readAt, this.#readAt + count);
    this.#readAt += count;
    this.length -= count;
    if (this.#readAt === end) {
      this.pool.give(this.#blocks.shift()!);
      this.#readAt = 0;
    }
    return bytes;
  }
}
