/**
 * Machine measurements used by the benchmarks.
 * @module
 */
import native from './native'
import { callNative } from './errors'
import { intOption, numberOption } from './validate'

/**
 * Memory bandwidth of this machine in bytes per second: the best of `repeats` parallel copies of a
 * `bytes`-sized buffer on `threads` threads, counting read plus write.
 */
export function measureCopyBandwidth(bytes = 256 * 2 ** 20, repeats = 5, threads = 1): number {
  numberOption('bytes', bytes, 0, 2 ** 40, true)
  intOption('repeats', repeats, 1, 1000)
  intOption('threads', threads, 1, 1024)
  return callNative(() => native.measureCopyBandwidth(bytes, repeats, threads))
}
