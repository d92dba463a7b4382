/**
 * Errors thrown by jarzyn. Every one is a plain `TypeError`, `RangeError` or `Error` (so
 * `instanceof` checks keep working) with a stable `code` property.
 *
 * @example
 * ```ts
 * try { sampler.observe(energies, grads) } catch (e) {
 *   if (isJarzynError(e) && e.code === 'ERR_JARZYN_BAD_LENGTH') { ... }
 * }
 * ```
 * @module
 */

/** Every code jarzyn's errors carry. */
export type JarzynErrorCode =
  | 'ERR_JARZYN_INVALID_OPTION'
  | 'ERR_JARZYN_UNKNOWN_OPTION'
  | 'ERR_JARZYN_BAD_ARRAY_TYPE'
  | 'ERR_JARZYN_BAD_LENGTH'
  | 'ERR_JARZYN_DETACHED'
  | 'ERR_JARZYN_ALIASED'
  | 'ERR_JARZYN_DISPOSED'
  | 'ERR_JARZYN_BAD_STATE'
  | 'ERR_JARZYN_ALL_WALKERS_INVALID'
  | 'ERR_JARZYN_OUT_OF_MEMORY'
  | 'ERR_JARZYN_NATIVE'
  | 'ERR_JARZYN_BAD_CHECKPOINT'
  | 'ERR_JARZYN_DIVERGED'
  | 'ERR_JARZYN_BACKEND'
  | 'ERR_JARZYN_NO_NATIVE'
  | 'ERR_JARZYN_NO_DATA'

/** An error raised by jarzyn: a `TypeError`, `RangeError` or `Error` with a `code`. */
export type JarzynError = Error & {
  /** Stable, machine-readable code, e.g. `'ERR_JARZYN_BAD_LENGTH'`; match on it rather than on the message. */
  code: JarzynErrorCode
}

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError

/** Make a jarzyn error of the given class and code. */
export function jarzynError(Class: ErrorClass, code: JarzynErrorCode, message: string): JarzynError {
  const e = new Class(message) as JarzynError
  Object.defineProperty(e, 'code', { value: code, enumerable: true })
  return e
}

/** Whether `e` is an error raised by jarzyn (it has a `code` starting with `ERR_JARZYN_`). */
export function isJarzynError(e: unknown): e is JarzynError {
  if (!(e instanceof Error)) return false
  const code: unknown = (e as { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('ERR_JARZYN_')
}

/**
 * Every call into the native addon goes through here, so that the profiler can count them (the
 * count per training iteration is the cost of crossing into native code). Errors need no
 * translation: the addon throws TypeError / RangeError / Error objects with their `code` set.
 */
export function callNative<T>(f: () => T): T {
  nativeCalls.count++
  return f()
}

/** Calls into the native addon so far (see {@link callNative}). @internal */
export const nativeCalls = { count: 0 }
