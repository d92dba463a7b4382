/**
 * Seeds: the `seed` option as a 64-bit integer (a bigint, as the native core takes it).
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto'

import { jarzynError } from './errors'
import { describe } from './validate'

const U64_MAX = (1n << 64n) - 1n

/** The `seed` option: a non-negative safe integer or a bigint below 2^64; a random one when undefined. */
export function seedOption(v: unknown): bigint {
  if (v === undefined) return randomBytes(8).readBigUInt64LE()
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`seed\` must be in [0, 2^64), got ${v}`)
    return v
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`seed\` must be a non-negative safe integer or a bigint, got ${v}`)
    }
    return BigInt(v)
  }
  throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`seed\` must be a number or bigint, got ${describe(v)}`)
}
