/**
 * Training-step benchmarks (issues 8 and 9): Jarzynski vs PCD step time with the same network and
 * walkers, the sampler's share of a step, and the Gaussian-mixture experiment's run time and split.
 * @module
 */
import { Trainer, initTensorflow, mlpEnergy, fillNormals, type Timings } from '../ts/index'
import { PAPER_GMM_CONFIG, runGmmExperiment } from '../ts/experiments'

/** One method's timing on the MLP energy. */
export interface MlpStepResult {
  method: 'jarzynski' | 'pcd'
  /** Median milliseconds per training iteration. */
  msPerIteration: number
  /** Median split per iteration (ms). */
  timings: Timings
  /** Sampler (move + observe + resample) share of the iteration, 0..1. */
  samplerShare: number
}

/** Jarzynski and PCD on an MLP energy, alternating iterations so that load drifts hit both alike. */
export async function benchMlpStep(options: { walkers: number; dim: number; hidden: number[]; iterations: number; threads: number }): Promise<{ backend: string; results: MlpStepResult[]; ratio: number }> {
  const { backend } = await initTensorflow()
  const { walkers, dim, hidden, iterations, threads } = options
  const data = fillNormals(new Float32Array(walkers * dim), { dim, seed: 5 })
  const make = (method: 'jarzynski' | 'pcd') =>
    new Trainer({
      energy: mlpEnergy({ dim, hidden, activation: 'silu', seed: 1 }),
      data,
      method,
      walkers,
      stepSize: 1e-3,
      seed: 2,
      threads,
      init: method === 'jarzynski' ? 'noise' : 'data',
      optimizer: { type: 'adam', lr: 1e-5 },
      // Resampling is part of the method's cost: keep it on, at the usual threshold.
      resample: method === 'jarzynski' ? { scheme: 'systematic', essFraction: 0.5 } : false,
    })
  const trainers = { jarzynski: make('jarzynski'), pcd: make('pcd') }
  const per: Record<'jarzynski' | 'pcd', { total: number[]; t: Timings[] }> = { jarzynski: { total: [], t: [] }, pcd: { total: [], t: [] } }
  for (let i = 0; i < iterations + 2; i++) {
    for (const m of i % 2 === 0 ? (['jarzynski', 'pcd'] as const) : (['pcd', 'jarzynski'] as const)) {
      const t0 = performance.now()
      const s = trainers[m].step()
      const ms = performance.now() - t0
      if (i >= 2) {
        // The first two iterations warm up tfjs kernels and caches.
        per[m].total.push(ms)
        per[m].t.push(s.timings)
      }
    }
  }
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const results: MlpStepResult[] = (['jarzynski', 'pcd'] as const).map((method) => {
    const keys = Object.keys(per[method].t[0]) as (keyof Timings)[]
    const timings = Object.fromEntries(keys.map((k) => [k, med(per[method].t.map((t) => t[k]))])) as Timings
    const msPerIteration = med(per[method].total)
    return { method, msPerIteration, timings, samplerShare: (timings.move + timings.observe + timings.resample) / msPerIteration }
  })
  for (const t of Object.values(trainers)) t.dispose()
  return { backend, results, ratio: results[0].msPerIteration / results[1].msPerIteration }
}

/** One method of the Gaussian-mixture experiment at the paper's size. */
export interface GmmRunResult {
  method: string
  iterations: number
  seconds: number
  msPerIteration: number
  samplerMs: number
  energyMs: number
  weights: number[]
}

/** The paper's Gaussian-mixture run (native energy end to end), per method. */
export async function benchGmmRun(options: { methods: ('jarzynski' | 'pcd' | 'cd')[]; iterations: number; threads: number }): Promise<GmmRunResult[]> {
  const r = await runGmmExperiment({ ...PAPER_GMM_CONFIG, methods: options.methods, iterations: options.iterations, threads: options.threads })
  return r.map((x) => ({
    method: x.method,
    iterations: x.iterations,
    seconds: x.seconds,
    msPerIteration: (1000 * x.seconds) / x.iterations,
    samplerMs: x.timings.move + x.timings.observe + x.timings.resample,
    energyMs: x.timings.energy + x.timings.paramGrad,
    weights: x.weights,
  }))
}

