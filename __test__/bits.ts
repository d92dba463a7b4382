/**
 * Bit-for-bit comparisons of the test suite: typed arrays compared by their bytes (so NaN payloads
 * and -0 count, which `deepEqual` and `===` do not see), and any value written with the exact bits
 * of its numbers.
 */
import type { ExecutionContext } from 'ava'

/** The arrays compared here: typed arrays and Buffers (a Buffer is a Uint8Array). */
export type BitArray = Float32Array | Float64Array | Uint32Array | Uint8Array

function bytes(a: BitArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength)
}

/**
 * Index of the first element whose bits differ, or -1 when `a` and `b` are arrays of the same kind
 * and length holding the same bits. Arrays of different kinds or lengths differ at 0.
 */
export function firstBitDifference(a: BitArray, b: BitArray): number {
  if (a.constructor !== b.constructor || a.length !== b.length) return 0
  const x = bytes(a)
  const y = bytes(b)
  if (x.equals(y)) return -1
  let i = 0
  while (x[i] === y[i]) i++
  return Math.floor(i / a.BYTES_PER_ELEMENT)
}

/** Whether `a` and `b` are arrays of the same kind and length holding the same bits. */
export function sameBits(a: BitArray, b: BitArray): boolean {
  return firstBitDifference(a, b) === -1
}

/** Assert {@link sameBits}; on failure the message names `what` and the first element that differs. */
export function assertSameBits(t: ExecutionContext, a: BitArray, b: BitArray, what: string): void {
  if (a.constructor !== b.constructor || a.length !== b.length) {
    t.fail(`${what}: ${a.constructor.name}(${a.length}) vs ${b.constructor.name}(${b.length})`)
    return
  }
  const i = firstBitDifference(a, b)
  t.is(i, -1, `${what}: first bit difference at index ${i} (${a[i]} vs ${b[i]})`)
}

/**
 * Canonical text of a value in which every number is written by its exact float64 bits, so that
 * comparing two of them is a bit-for-bit comparison (deepEqual treats -0 and 0 alike).
 */
export function bitsJson(v: unknown): string {
  const buf = new DataView(new ArrayBuffer(8))
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === 'number') {
      buf.setFloat64(0, x)
      return `f64:${buf.getBigUint64(0).toString(16)}`
    }
    return x
  })
}
