/**
 * Walker-steps per second of one `move()` + `observe()` iteration (zero-copy observe: the energies
 * and gradients already sit in the sampler's own views, so this is the sampler's own cost without
 * an energy model), and the model it is held against.
 *
 * Model of one iteration on T threads (per walker-step):
 *   time = d * t_normal(d) / T  +  bytes(d) / bandwidth(T)
 * with t_normal(d) the measured single-core ns per normal of `fillNormals` at that dim, and
 * bandwidth(T) the measured copy bandwidth (read + write bytes per second) on T threads.
 *
 * Bytes streamed, counted from crates/jarzyn-core/src/sampler.rs (f32 = 4 B, f64 = 8 B):
 *   weighted (Jarzynski)
 *     move:    reads x, g; writes x, x_prev                         16 d
 *              reads A (f64), U (f32); writes forward (f64)            20
 *     observe: reads g, x, x_prev (dot and |g|^2)                    12 d
 *              reads U, A, forward; writes A                           28
 *              then forward <- U (serial pass)                         12
 *     total                                                   28 d + 60
 *   unweighted (PCD)
 *     move:    reads x, g; writes x                                  12 d
 *              reads A                                                  8
 *     observe: reads g (|g|^2 finiteness check)                       4 d
 *              reads U, A; writes A                                    20
 *     total                                                   16 d + 28
 * The Langevin noise is drawn into a per-task scratch of at most 64 KiB (cache-resident) and is
 * not counted as streamed bytes; its cost is the normals term.
 * @module
 */
import { fillNormals, Sampler } from '../ts/index'
import { median, min, now, progress, release, rss } from './util'

export const MODEL_RATIO_TARGET = 1.5

/** Bytes streamed per walker-step (see the module comment). */
export function bytesPerWalkerStep(dim: number, weighted: boolean): number {
  return weighted ? 28 * dim + 60 : 16 * dim + 28
}

/** Bytes a sampler holds (positions, gradients, x_prev, A, U, forward). */
export function samplerBytes(walkers: number, dim: number, weighted: boolean): number {
  return walkers * (weighted ? 12 * dim + 8 + 4 + 8 : 8 * dim + 8 + 4)
}

export interface StepResult {
  walkers: number
  dim: number
  threads: number
  weighted: boolean
  /** Iterations timed (in batches) after the warm-up. */
  iterations: number
  batches: number
  /** Best batch: seconds per iteration (the least disturbed by other processes; the headline). */
  secondsPerIteration: number
  /** Median over batches. */
  secondsPerIterationMedian: number
  walkerStepsPerSecond: number
  model: {
    normalsSeconds: number
    bytes: number
    bytesSeconds: number
    seconds: number
  }
  /** measured (best batch) / model. */
  ratio: number
  /** measured (median batch) / model. */
  ratioMedian: number
  pass: boolean
}

export interface ModelInputs {
  /** ns per normal per core, by dim. */
  nsPerNormal: (dim: number) => number
  /** Copy bandwidth in bytes/s, by thread count. */
  bandwidth: (threads: number) => number
}

/**
 * Time move() + observe() on a fresh sampler: warm-up, then batches of iterations (each batch at
 * least ~`batchSeconds`), for about `budgetSeconds` and at least `minBatches` batches. The figure
 * is the best batch (the machine may be shared: the median is kept too).
 */
export async function measureStep(
  walkers: number,
  dim: number,
  threads: number,
  weighted: boolean,
  inputs: ModelInputs,
  budgetSeconds: number,
  minBatches = 3,
  batchSeconds = 0.02,
): Promise<StepResult> {
  const s = new Sampler({ walkers, dim, stepSize: 0.01, seed: 12345, threads, weighted })
  try {
    // Some positions and gradients (as if U(x) = |x|^2 / 2 had been evaluated), energies, then the
    // first observation, which only records.
    fillNormals(s.positions, { dim, seed: 1, stream: 'init' })
    fillNormals(s.gradients, { dim, seed: 2, stream: 'init' })
    s.energies.fill(0.5 * dim)
    s.observe()
    // Warm-up iteration; its time sizes the batches.
    let t = now()
    s.move()
    s.observe()
    const first = now() - t
    const perBatch = Math.max(1, Math.ceil(batchSeconds / Math.max(first, 1e-7)))
    const times: number[] = []
    let iterations = 0
    const start = now()
    while (times.length < minBatches || now() - start < budgetSeconds) {
      t = now()
      for (let k = 0; k < perBatch; k++) {
        s.move()
        s.observe()
      }
      times.push((now() - t) / perBatch)
      iterations += perBatch
      if (times.length >= 200) break
    }
    const sec = min(times)
    const secMedian = median(times)
    const normalsSeconds = (walkers * dim * inputs.nsPerNormal(dim) * 1e-9) / threads
    const bytes = walkers * bytesPerWalkerStep(dim, weighted)
    const bytesSeconds = bytes / inputs.bandwidth(threads)
    const modelSeconds = normalsSeconds + bytesSeconds
    const ratio = sec / modelSeconds
    const res: StepResult = {
      walkers,
      dim,
      threads,
      weighted,
      iterations,
      batches: times.length,
      secondsPerIteration: sec,
      secondsPerIterationMedian: secMedian,
      walkerStepsPerSecond: walkers / sec,
      model: { normalsSeconds, bytes, bytesSeconds, seconds: modelSeconds },
      ratio,
      ratioMedian: secMedian / modelSeconds,
      pass: ratio <= MODEL_RATIO_TARGET,
    }
    progress(
      `step N=${walkers} d=${dim} threads=${threads} ${weighted ? 'jarzynski' : 'pcd'}: ` +
        `best ${(sec * 1e3).toFixed(3)} ms/iter (median ${(secMedian * 1e3).toFixed(3)}), model ${(modelSeconds * 1e3).toFixed(3)} ms, ` +
        `ratio ${ratio.toFixed(2)} (${iterations} iterations in ${times.length} batches, rss ${(rss() / 2 ** 20).toFixed(0)} MiB)`,
    )
    return res
  } finally {
    s.dispose()
    await release()
  }
}
