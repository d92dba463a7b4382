/**
 * Speed of the normal generator: single-threaded `fillNormals`, ns per normal.
 * @module
 */
import { fillNormals } from '../ts/index'
import { now, min, progress } from './util'

export const NS_PER_NORMAL_TARGET = 2.5

export interface NormalsResult {
  dim: number
  normals: number
  runs: number
  /** Best run, ns per normal (one core). */
  nsPerNormal: number
  /** Median run, ns per normal. */
  nsPerNormalMedian: number
  normalsPerSecond: number
  pass: boolean
}

/** Best of `runs` fills of a buffer of ~`size` normals with walkers of dimension `dim`. */
export function measureNormals(dim: number, size = 1_000_000, runs = 20): NormalsResult {
  const walkers = Math.floor(size / dim)
  const out = new Float32Array(walkers * dim)
  fillNormals(out, { dim, seed: 7, step: 0, stream: 'noise' }) // warm-up, page-in
  const times: number[] = []
  for (let r = 0; r < runs; r++) {
    const t = now()
    fillNormals(out, { dim, seed: 7, step: r + 1, stream: 'noise' })
    times.push(now() - t)
  }
  const best = min(times)
  const sorted = [...times].sort((a, b) => a - b)
  const ns = (best / out.length) * 1e9
  const res: NormalsResult = {
    dim,
    normals: out.length,
    runs,
    nsPerNormal: ns,
    nsPerNormalMedian: (sorted[sorted.length >> 1] / out.length) * 1e9,
    normalsPerSecond: out.length / best,
    pass: ns <= NS_PER_NORMAL_TARGET,
  }
  progress(`normals d=${dim}: ${ns.toFixed(3)} ns/normal (best of ${runs})`)
  return res
}
