import { describe, expect, it } from "vitest";
import { prepareInputs, type BlobDoor, type Progress } from "./upload";
import { sha256Hex } from "./sha256";

const file = (name: string, text: string) => new File([text], name);

describe("prepareInputs", () => {
  it("hashes each file, skips what the hub holds, uploads the rest with progress over their total", async () => {
    const held = new Set<string>();
    const put: string[] = [];
    const door: BlobDoor = {
      hash: async (f) => sha256Hex(new Uint8Array(await f.arrayBuffer())),
      has: async (sha) => held.has(sha),
      put: async (f, sha, onSent) => {
        onSent(1);
        onSent(f.size);
        put.push(sha);
        held.add(sha);
      },
    };
    const a = file("a.txt", "aaaa");
    const b = file("b.txt", "bbbbbb");
    const c = file("c.txt", "cc");
    held.add(sha256Hex(new TextEncoder().encode("bbbbbb")));
    const seen: Progress[] = [];
    const entries = await prepareInputs(
      [
        { file: a, path: " data/a.txt " },
        { file: b, path: "b.txt" },
        { file: c, path: "c" },
      ],
      (p) => seen.push(p),
      door,
    );
    expect(entries).toEqual([
      { sha256: sha256Hex(new TextEncoder().encode("aaaa")), path: "data/a.txt" },
      { sha256: sha256Hex(new TextEncoder().encode("bbbbbb")), path: "b.txt" },
      { sha256: sha256Hex(new TextEncoder().encode("cc")), path: "c" },
    ]);
    expect(put).toEqual([entries[0].sha256, entries[2].sha256]);
    const last = seen.at(-1)!;
    expect(last).toEqual({ done: 6, total: 6, status: ["uploaded", "on hub", "uploaded"] });
    // Progress only grows, over the 6 bytes the hub lacked.
    const uploads = seen.filter((p) => p.total > 0).map((p) => p.done);
    expect(uploads).toEqual([...uploads].sort((x, y) => x - y));
    expect(uploads).toContain(5);
  });

  it("stops at a refused upload", async () => {
    const door: BlobDoor = {
      hash: async () => "f".repeat(64),
      has: async () => false,
      put: async () => {
        throw new Error("the hub's disk is full");
      },
    };
    await expect(prepareInputs([{ file: file("x", "x"), path: "x" }], () => {}, door)).rejects.toThrow("disk is full");
  });
});
