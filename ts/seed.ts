/**
 * Seeds: the `seed` option as a 64-bit integer, and that integer as the two 32-bit words the native
 * core takes.
 * @internal
 * @module
 */

// `seedOption` is still defined in sampler.ts (whose owner moves it here); import it from this
// module, which is where seeds are read.
export { seedOption } from './sampler'

/** A 64-bit seed as its low and high 32-bit words, the form the native core takes. */
export function seedWords(seed: bigint): [lo: number, hi: number] {
  return [Number(seed & 0xffffffffn), Number((seed >> 32n) & 0xffffffffn)]
}
