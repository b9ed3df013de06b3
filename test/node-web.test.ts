// NodeHeaders and NodeResponse (src/node/web.ts) compared with the runtime's own Headers and Response.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NodeHeaders, NodeResponse } from "../src/node/index.ts";

describe("NodeHeaders and NodeResponse read like fetch's Headers and Response", () => {
  // Iteration as the Fetch standard's "sort and combine" gives it (names lowercase and sorted,
  // repeats joined with ", ", each set-cookie its own entry in its sorted place), which undici
  // follows; Bun lists set-cookie last, so its Headers is compared only off Bun.
  const inputs: [string, HeadersInit, [string, string][]][] = [
    [
      "record",
      { "Content-Type": " text/plain\t", "X-Amz-Meta-A": "1", b: "" },
      [
        ["b", ""],
        ["content-type", "text/plain"],
        ["x-amz-meta-a", "1"],
      ],
    ],
    [
      "pairs with repeats",
      [
        ["x-a", "1"],
        ["X-A", "2"],
        ["set-cookie", "c=1"],
        ["Set-Cookie", "d=2"],
        ["accept", "*/*"],
      ],
      [
        ["accept", "*/*"],
        ["set-cookie", "c=1"],
        ["set-cookie", "d=2"],
        ["x-a", "1, 2"],
      ],
    ],
    [
      "a Headers",
      new Headers([
        ["z", "1"],
        ["a", "2"],
        ["set-cookie", "e=3"],
      ]),
      [
        ["a", "2"],
        ["set-cookie", "e=3"],
        ["z", "1"],
      ],
    ],
  ];
  for (const [what, init, sorted] of inputs)
    test(`same reads as Headers: ${what}`, () => {
      const ours = new NodeHeaders(init),
        theirs = new Headers(init);
      assert.deepEqual([...ours], sorted);
      if (!process.versions.bun) assert.deepEqual([...ours], [...theirs]);
      assert.deepEqual(
        [...ours.keys()],
        sorted.map(([k]) => k),
      );
      assert.deepEqual(
        [...ours.values()],
        sorted.map(([, v]) => v),
      );
      assert.deepEqual(ours.getSetCookie(), theirs.getSetCookie());
      const visited: string[] = [];
      ours.forEach((value, name) => visited.push(name + "=" + value));
      assert.deepEqual(
        visited,
        sorted.map(([k, v]) => k + "=" + v),
      );
      for (const name of ["content-type", "CONTENT-TYPE", "x-a", "set-cookie", "nope", "b"]) {
        assert.equal(ours.get(name), theirs.get(name), name);
        assert.equal(ours.has(name), theirs.has(name), name);
      }
      (ours.set("X-A", "9"), theirs.set("X-A", "9"), ours.delete("accept"), theirs.delete("accept"));
      assert.equal(ours.get("x-a"), "9");
      assert.equal(ours.has("accept"), false);
      if (!process.versions.bun) assert.deepEqual([...ours], [...theirs]);
    });

  test("invalid names and values are TypeErrors, as Headers makes them", () => {
    for (const [name, value] of [
      ["a b", "1"],
      ["", "1"],
      ["x:", "1"],
      ["é", "1"],
      ["x", "a\r\nb"],
      ["x", "a\nb"],
      ["x", "a\0b"],
    ]) {
      const pair = JSON.stringify([name, value]);
      assert.throws(() => new Headers([[name, value]]), TypeError, `Headers ${pair}`);
      assert.throws(() => new NodeHeaders([[name, value]]), TypeError, `NodeHeaders ${pair}`);
    }
    assert.throws(() => new NodeHeaders([["a", "1", "2"]] as any), TypeError);
  });

  test("body methods, bodyUsed and clone behave as Response's", async () => {
    const stream = (...parts: string[]) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
          controller.close();
        },
      });
    const make = (...parts: string[]) =>
      new NodeResponse(
        stream(...parts),
        200,
        "OK",
        new NodeHeaders({ "content-type": "application/json" }),
        "http://h/x",
      );
    const response = make('\uFEFF{"a":', ' [1, "é"]}');
    assert.equal(response.bodyUsed, false);
    const copy = response.clone();
    assert.deepEqual(await response.json(), await new Response(stream('\uFEFF{"a":', ' [1, "é"]}')).json());
    assert.equal(response.bodyUsed, true);
    await assert.rejects(response.text(), TypeError);
    assert.throws(() => response.clone(), TypeError);
    assert.equal(await copy.text(), '{"a": [1, "é"]}'); // the BOM is dropped, as Response.text() drops it
    const buffer = await make("ab", "cd").arrayBuffer();
    assert.ok(buffer instanceof ArrayBuffer);
    assert.equal(Buffer.from(buffer).toString(), "abcd");
    assert.equal(buffer.byteLength, 4);
    const blob = await make("xyz").blob();
    assert.equal(blob.type, new Blob([], { type: "application/json" }).type); // Bun's Blob adds a charset
    assert.equal(await blob.text(), "xyz");
    assert.deepEqual([...(await make().bytes())], []);
    const empty = new NodeResponse(null, 204, "No Content", new NodeHeaders(), "");
    assert.equal(empty.ok, true);
    assert.equal(await empty.text(), "");
    await assert.rejects(make("a").formData(), TypeError);
    assert.equal(String(make()), "[object Response]");
  });
});
