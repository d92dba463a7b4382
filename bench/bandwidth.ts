/**
 * The machine's copy bandwidth (the yardstick of the sampler model).
 * @module
 */
import { measureCopyBandwidth } from '../ts/index'
import { progress } from './util'

export interface BandwidthResult {
  threads: number
  /** Bytes per second, read + write counted (2 x buffer per copy), best of `repeats`. */
  bytesPerSecond: number
  bufferBytes: number
  repeats: number
}

export function measureBandwidth(threads: number, bufferBytes = 256 * 2 ** 20, repeats = 7): BandwidthResult {
  const bytesPerSecond = measureCopyBandwidth(bufferBytes, repeats, threads)
  progress(`copy bandwidth, ${threads} thread(s): ${(bytesPerSecond / 1e9).toFixed(2)} GB/s`)
  return { threads, bytesPerSecond, bufferBytes, repeats }
}
