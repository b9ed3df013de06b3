// The FIFO a parallel download holds its parts in (src/byte-queue.ts): bytes out exactly as they went
// in, whatever the sizes pushed and taken; blocks reused, so memory follows the bytes held.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BlockPool, ByteQueue } from "../src/byte-queue.ts";
import { seededRandom } from "./support/util.ts";

/** A pool that counts the blocks it made. */
function countingPool(blockSize: number) {
  const pool = new BlockPool(blockSize);
  const take = pool.take.bind(pool);
  const made = new Set<Uint8Array>();
  pool.take = () => {
    const block = take();
    made.add(block);
    return block;
  };
  return { pool, made };
}

test("random pushes and shifts (seeded): the bytes come out in order, each out chunk within one block and its own copy", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const random = seededRandom(seed);
    const blockSize = 1 + random.int(64);
    const { pool } = countingPool(blockSize);
    const queue = new ByteQueue(pool);
    const pushed: number[] = [];
    const taken: number[] = [];
    for (let step = 0; step < 300; step++) {
      if (random.random() < 0.5) {
        const bytes = random.bytes(random.int(3 * blockSize));
        queue.push(bytes);
        pushed.push(...bytes);
        bytes.fill(0); // the queue keeps a copy, not the caller's array
      } else {
        const maxBytes = 1 + random.int(2 * blockSize);
        const out = queue.shift(maxBytes);
        if (!out) {
          assert.equal(queue.length, 0, `seed ${seed}`);
          continue;
        }
        assert.ok(out.length >= 1 && out.length <= Math.min(maxBytes, blockSize), `seed ${seed}: ${out.length} bytes`);
        assert.equal(out.byteOffset, 0, "a copy, not a view of a block that is reused");
        assert.equal(out.buffer.byteLength, out.length);
        taken.push(...out);
      }
      assert.equal(queue.length, pushed.length - taken.length, `seed ${seed}`);
    }
    for (let out; (out = queue.shift(blockSize));) taken.push(...out);
    assert.deepEqual(taken, pushed, `seed ${seed}`);
  }
});

test("blocks are reused: memory follows the bytes held, not the bytes that went through", () => {
  const { pool, made } = countingPool(1024);
  const queues = [new ByteQueue(pool), new ByteQueue(pool)];
  const chunk = new Uint8Array(700).fill(7);
  for (let round = 0; round < 1000; round++) {
    for (const queue of queues) queue.push(chunk);
    for (const queue of queues) while (queue.shift(512));
  }
  // 1.4 MB went through; at most 700 bytes were ever held per queue (one block, or two across a boundary).
  assert.ok(made.size <= 4, `${made.size} blocks made`);
});
