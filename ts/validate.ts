/**
 * Argument checks shared by the public API: each failure is a TypeError or RangeError with a code.
 * @internal
 * @module
 */
import { jarzynError } from './errors'

/** A positive (or non-negative) integer option, at most `max`. */
export function intOption(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`${name}\` must be a number, got ${describe(v)}`)
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`${name}\` must be an integer in [${min}, ${max}], got ${v}`)
  }
  return v
}

/** A finite number in (lo, hi] or [lo, hi] per `openLow`. */
export function numberOption(name: string, v: unknown, lo: number, hi: number, openLow: boolean): number {
  if (typeof v !== 'number') {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `option \`${name}\` must be a number, got ${describe(v)}`)
  }
  const low = openLow ? v > lo : v >= lo
  if (!Number.isFinite(v) || !low || v > hi) {
    const range = `${openLow ? '(' : '['}${lo}, ${hi}]`
    throw jarzynError(RangeError, 'ERR_JARZYN_INVALID_OPTION', `option \`${name}\` must be a finite number in ${range}, got ${v}`)
  }
  return v
}

/** Reject option keys the API does not know (typos silently ignored are worse than errors). */
export function knownKeys(what: string, opts: object, allowed: readonly string[]): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `${what} options must be an object, got ${describe(opts)}`)
  }
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) {
      throw jarzynError(TypeError, 'ERR_JARZYN_UNKNOWN_OPTION', `unknown ${what} option \`${k}\` (known: ${allowed.join(', ')})`)
    }
  }
}

type TypedArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor

/** Whether a typed array's buffer has been detached (transferred or `ArrayBuffer.prototype.transfer`). */
export function isDetached(a: ArrayBufferView): boolean {
  const buf = a.buffer as ArrayBuffer & { detached?: boolean }
  if (typeof buf.detached === 'boolean') return buf.detached
  // Before ES2024's `detached` (Node < 22): only a detached buffer refuses a new view, even an empty one.
  if (buf.byteLength !== 0) return false
  try {
    new Uint8Array(buf, 0, 0)
    return false
  } catch {
    return true
  }
}

/** A typed array of the given kind and length, not detached. */
export function typedArray<T extends Float32Array | Float64Array>(
  name: string,
  v: unknown,
  Ctor: TypedArrayCtor,
  length: number,
): T {
  if (!(v instanceof Ctor)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`${name}\` must be a ${Ctor.name}, got ${describe(v)}`)
  }
  if (isDetached(v)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_DETACHED', `\`${name}\` is backed by a detached ArrayBuffer`)
  }
  if (v.length !== length) {
    throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`${name}\` has length ${v.length}, expected ${length}`)
  }
  return v as T
}

/** Points in R^dim, n x dim row-major: a Float32Array, not detached, of a length that is a multiple of `dim`. */
export function pointsArray(name: string, v: unknown, dim: number): Float32Array {
  if (!(v instanceof Float32Array)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `\`${name}\` must be a Float32Array, got ${describe(v)}`)
  }
  if (isDetached(v)) {
    throw jarzynError(TypeError, 'ERR_JARZYN_DETACHED', `\`${name}\` is backed by a detached ArrayBuffer`)
  }
  if (v.length % dim !== 0) {
    throw jarzynError(RangeError, 'ERR_JARZYN_BAD_LENGTH', `\`${name}\` has length ${v.length}, not a multiple of dim ${dim}`)
  }
  return v
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object'
  return typeof v
}
