/**
 * A small deterministic generator (SplitMix64) for JavaScript-side choices: data shuffling, CD resets.
 * Its whole state is one 64-bit integer, so checkpoints capture it exactly.
 * @internal
 * @module
 */
const MASK = (1n << 64n) - 1n

export class SplitMix64 {
  state: bigint
  constructor(seed: bigint) {
    this.state = seed & MASK
  }
  nextU64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK
    let z = this.state
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK
    return z ^ (z >> 31n)
  }
  /** Uniform integer in [0, n), n <= 2^32 (rejection-free multiply-shift; bias < 2^-32). */
  below(n: number): number {
    return Number(((this.nextU64() >> 32n) * BigInt(n)) >> 32n)
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle(a: Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1)
      const t = a[i]
      a[i] = a[j]
      a[j] = t
    }
  }
}

/** Derive an independent 64-bit seed from a seed and a tag. */
export function deriveSeed(seed: bigint, tag: number): bigint {
  return new SplitMix64(seed ^ (BigInt(tag) * 0xd1b54a32d192ed03n)).nextU64()
}
