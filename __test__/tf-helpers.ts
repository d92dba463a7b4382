/**
 * Shared pieces of the TensorFlow.js tests: which backends to run, deterministic inputs on a binary
 * grid (so that x +- h is exact in float32), and a fourth-order central difference.
 */
import { availableTfBackends, type TfBackendName } from '../ts/index'
import { SplitMix64 } from '../ts/splitmix'

/** cpu and wasm always; tensorflow only where @tensorflow/tfjs-node loads (else skipped). */
export const BACKENDS: { name: TfBackendName; available: boolean }[] = (() => {
  const have = availableTfBackends()
  return (['cpu', 'wasm', 'tensorflow'] as const).map((name) => ({ name, available: have.includes(name) }))
})()

/** Uniform values in [-scale, scale] rounded to multiples of 2^-bits. */
export function gridArray(n: number, seed: number, scale = 1, bits = 10): Float32Array {
  const rng = new SplitMix64(BigInt(seed))
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const u = Number(rng.nextU64() >> 11n) / 2 ** 53
    out[i] = Math.round(scale * (2 * u - 1) * 2 ** bits) / 2 ** bits
  }
  return out
}

/** Round every entry to a multiple of 2^-bits (parameters then move exactly by h = 2^-k, k <= bits). */
export function toGrid(v: Float64Array, bits = 12): Float64Array {
  return v.map((x) => Math.round(x * 2 ** bits) / 2 ** bits)
}

/**
 * f'(0) from f(+-h), f(+-2h): [8 (f(h) - f(-h)) - (f(2h) - f(-2h))] / 12h, truncation O(h^4).
 * `f` returns a vector (several outputs differentiated at once).
 */
export function centralDiff(f: (step: number) => Float64Array, h: number): Float64Array {
  const p1 = f(h)
  const m1 = f(-h)
  const p2 = f(2 * h)
  const m2 = f(-2 * h)
  return p1.map((_, i) => (8 * (p1[i] - m1[i]) - (p2[i] - m2[i])) / (12 * h))
}

/** Float32 machine epsilon. */
export const EPS32 = 2 ** -23
