import { describe, expect, it } from "vitest";
import { Sha256, hashBlob, sha256Hex } from "./sha256";

const ascii = (s: string) => new TextEncoder().encode(s);

describe("Sha256", () => {
  it("gives the NIST example digests (FIPS 180-4 / NIST CSRC examples)", () => {
    expect(sha256Hex(ascii(""))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex(ascii("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    expect(
      sha256Hex(
        ascii(
          "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        ),
      ),
    ).toBe("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  });

  it("hashes one million 'a' fed in uneven pieces", () => {
    const hash = new Sha256();
    const piece = ascii("a".repeat(9973));
    let left = 1_000_000;
    while (left > 0) {
      const n = Math.min(left, piece.length);
      hash.update(piece.subarray(0, n));
      left -= n;
    }
    expect(hash.hex()).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  it("pads right at the block edges (55, 56, 63, 64, 65 bytes)", () => {
    const want: Record<number, string> = {
      55: "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072",
      56: "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e",
      63: "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2",
      64: "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c",
      65: "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9",
    };
    for (const [n, hex] of Object.entries(want)) expect(sha256Hex(ascii("x".repeat(Number(n))))).toBe(hex);
  });

  it("gives the same digest for a 1.5 MiB input whole, byte by byte at the edges, and in slices", async () => {
    const big = new Uint8Array(1_572_869);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    // Python: hashlib.sha256(bytes(i % 251 for i in range(1572869))).hexdigest()
    const want = "e2a579cc6b845cdbd2ef9d06e1c84e9bc5a69b1ee0d994810b22fecc875084d0";
    expect(sha256Hex(big)).toBe(want);
    const pieces = new Sha256();
    let at = 0;
    for (const size of [1, 63, 64, 65, 7, 100_000, 1 << 20]) {
      pieces.update(big.subarray(at, at + size));
      at += size;
    }
    pieces.update(big.subarray(at));
    expect(pieces.hex()).toBe(want);
    let seen = 0;
    expect(await hashBlob(new Blob([big]), (n) => (seen += n))).toBe(want);
    expect(seen).toBe(big.length);
  });

  it("refuses more bytes after the digest, and gives the digest again", () => {
    const hash = new Sha256().update(ascii("abc"));
    const first = hash.hex();
    expect(hash.hex()).toBe(first);
    expect(() => hash.update(ascii("d"))).toThrow();
  });
});
