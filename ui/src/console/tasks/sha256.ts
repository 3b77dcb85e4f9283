// SHA-256 (FIPS 180-4), fed in pieces. The console names a chosen file by
// its SHA-256 before uploading it; the browser's crypto.subtle cannot do
// that: it is missing on plain-http pages of another host, and it hashes
// only a whole buffer, not a multi-gigabyte file read in slices.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** An incremental SHA-256: `update` with each piece, then `hex` (or `digest`) once. */
export class Sha256 {
  private readonly h = new Uint32Array(INITIAL);
  private readonly w = new Uint32Array(64);
  /** The bytes of a block not yet full. */
  private readonly block = new Uint8Array(64);
  private used = 0;
  /** Bytes fed so far (exact up to 2^53). */
  private length = 0;
  private finished = false;

  /** Feeds the next bytes. */
  update(bytes: Uint8Array): this {
    if (this.finished) throw new Error("this SHA-256 is finished");
    this.length += bytes.length;
    let i = 0;
    if (this.used > 0) {
      const take = Math.min(64 - this.used, bytes.length);
      this.block.set(bytes.subarray(0, take), this.used);
      this.used += take;
      i = take;
      if (this.used < 64) return this;
      this.compress(this.block, 0);
      this.used = 0;
    }
    for (; i + 64 <= bytes.length; i += 64) this.compress(bytes, i);
    if (i < bytes.length) {
      this.block.set(bytes.subarray(i), 0);
      this.used = bytes.length - i;
    }
    return this;
  }

  /** The 32-byte digest; the hash takes no more bytes after it. */
  digest(): Uint8Array {
    if (!this.finished) {
      const bits = this.length * 8;
      const tail = new Uint8Array((this.used < 56 ? 64 : 128) - this.used);
      tail[0] = 0x80;
      const view = new DataView(tail.buffer);
      view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
      view.setUint32(tail.length - 4, bits >>> 0);
      const length = this.length;
      this.update(tail);
      this.length = length;
      this.finished = true;
    }
    const out = new Uint8Array(32);
    const view = new DataView(out.buffer);
    for (let j = 0; j < 8; j++) view.setUint32(j * 4, this.h[j]);
    return out;
  }

  /** The digest as 64 lower-case hex digits, as the hub names blobs. */
  hex(): string {
    let s = "";
    for (const b of this.digest()) s += b.toString(16).padStart(2, "0");
    return s;
  }

  private compress(bytes: Uint8Array, at: number) {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const j = at + t * 4;
      w[t] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15];
      const b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.h;
    let a = h[0];
    let b = h[1];
    let c = h[2];
    let d = h[3];
    let e = h[4];
    let f = h[5];
    let g = h[6];
    let k = h[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (k + S1 + ch + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
  }
}

/** The SHA-256 of `bytes` in one go, as hex. */
export const sha256Hex = (bytes: Uint8Array): string => new Sha256().update(bytes).hex();

/** How much of a file is read at a time while hashing it. */
export const HASH_SLICE = 4 << 20;

/**
 * The SHA-256 of a file (or any Blob), read a slice at a time so a large
 * file never sits in memory whole; `onBytes` gets each slice's length.
 */
export async function hashBlob(blob: Blob, onBytes: (n: number) => void = () => {}): Promise<string> {
  const hash = new Sha256();
  for (let at = 0; at < blob.size; at += HASH_SLICE) {
    const piece = new Uint8Array(await blob.slice(at, at + HASH_SLICE).arrayBuffer());
    hash.update(piece);
    onBytes(piece.length);
  }
  return hash.hex();
}
