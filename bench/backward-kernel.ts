/**
 * Exact backward kernels (issue 20): ESS per second of the Jarzynski weights with the backward
 * kernel at theta_{k+1} (`'next'`, the paper's) and at theta_k (`'current'`: one more U + grad U
 * evaluation per iteration, the MALA log-ratio at fixed theta_k plus the annealed-importance term).
 *
 * - (a) The paper's Gaussian mixture (PAPER_GMM_CONFIG: d = 50, N = n = 10^4, SGD at the paper's
 *   rates, h = 0.1), shortened to 1500 iterations, through the Trainer (native mixture, its two
 *   native calls per iteration).
 * - (b) A moving Gaussian, U_k(x) = |x - v k e_1|^2 / 2 in d = 10, N = 10^4, h = 0.1, 400
 *   iterations, through the Sampler's two recipes (energies evaluated in JavaScript), at speeds v
 *   from 0.001 to 0.3 per iteration (in units of the target's standard deviation).
 *
 * Both kernels of a case run side by side, one iteration each in turn (so that the shared
 * machine's load drifts hit both alike), with the same seed. Resampling: systematic when
 * ESS < N/2, the trainers' default. The ESS is that of the weights of theta_{k+1} at the end of
 * iteration k, before the resampling decision (what the resampling rule sees): after a resampling
 * the weights are equal but the walkers are copies, so the ESS after it would flatter the kernel
 * that resamples more. ESS per second = the run's mean ESS (walkers) / seconds per iteration.
 * @module
 */
import { GaussianMixtureEnergy, Sampler, Trainer, fillNormals, type BackwardKernel } from '../ts/index'
import { PAPER_GMM_CONFIG, dataMixture, initialModel } from '../ts/experiments'

import { now, r4, si, table } from './util'

const KERNELS: readonly BackwardKernel[] = ['next', 'current']
const ESS_FRACTION = 0.5

/** One kernel on one case. */
export interface KernelRow {
  /** Which case: 'gmm' or `gaussian v=...`. */
  case: string
  kernel: BackwardKernel
  iterations: number
  walkers: number
  msPerIteration: number
  /** Mean over the run of ESS / N before each resampling decision. */
  meanEssFraction: number
  resamplings: number
  /** Mean ESS (walkers) per second of wall time. */
  essPerSecond: number
}

/** Both kernels of one case, and the ratios 'current' / 'next'. */
export interface KernelCase {
  case: string
  /** Parameter speed of the moving Gaussian (per iteration); null for the mixture. */
  speed: number | null
  rows: KernelRow[]
  /** current / next: mean ESS, time per iteration, ESS per second. */
  essRatio: number
  timeRatio: number
  essPerSecondRatio: number
}

export interface BackwardKernelBench {
  gmm: KernelCase
  gaussian: KernelCase[]
  gmmIterations: number
  gaussianIterations: number
}

/** One iteration of a run; returns the ESS before the resampling decision and whether it resampled. */
type Stepper = () => { ess: number; resampled: boolean }

/** Run the kernels' steppers in turn for `iterations`, timing each. */
function race(name: string, speed: number | null, walkers: number, iterations: number, steppers: Record<BackwardKernel, Stepper>, warmup: number): KernelCase {
  const acc = Object.fromEntries(KERNELS.map((k) => [k, { seconds: 0, ess: 0, resamplings: 0 }])) as Record<BackwardKernel, { seconds: number; ess: number; resamplings: number }>
  for (let i = 0; i < warmup + iterations; i++) {
    for (const k of i % 2 === 0 ? KERNELS : [...KERNELS].reverse()) {
      const t0 = now()
      const r = steppers[k]()
      const dt = now() - t0
      if (i < warmup) continue
      acc[k].seconds += dt
      acc[k].ess += r.ess
      if (r.resampled) acc[k].resamplings++
    }
  }
  const rows = KERNELS.map((kernel): KernelRow => {
    const a = acc[kernel]
    const perIteration = a.seconds / iterations
    const meanEss = a.ess / iterations
    return {
      case: name,
      kernel,
      iterations,
      walkers,
      msPerIteration: 1e3 * perIteration,
      meanEssFraction: meanEss / walkers,
      resamplings: a.resamplings,
      essPerSecond: meanEss / perIteration,
    }
  })
  const [n, c] = rows
  return {
    case: name,
    speed,
    rows,
    essRatio: c.meanEssFraction / n.meanEssFraction,
    timeRatio: c.msPerIteration / n.msPerIteration,
    essPerSecondRatio: c.essPerSecond / n.essPerSecond,
  }
}

/** (a) The paper's mixture through the Trainer, both kernels. */
export function benchGmmKernels(iterations: number, threads: number): KernelCase {
  const c = { ...PAPER_GMM_CONFIG, threads }
  const { x: data } = dataMixture(c).sample(c.dataPoints, c.seed + 7919, { stratified: true })
  const trainers: Trainer[] = []
  const steppers = {} as Record<BackwardKernel, Stepper>
  for (const kernel of KERNELS) {
    const energy: GaussianMixtureEnergy = initialModel(c)
    const tr = new Trainer({
      energy,
      data,
      walkers: c.walkers,
      stepSize: c.stepSize,
      seed: c.seed,
      threads,
      optimizer: { type: 'sgd', lr: c.lrMeans, groups: { means: c.lrMeans, logWeights: c.lrLogWeights } },
      backwardKernel: kernel,
      // Resampled here, after reading the ESS the rule sees (the trainer's own rule, same place).
      resample: false,
      diagnosticsEvery: 0,
    })
    trainers.push(tr)
    const s = tr.samplers[0]
    steppers[kernel] = () => {
      tr.step()
      const ess = s.ess()
      return { ess, resampled: s.maybeResample({ essFraction: ESS_FRACTION, scheme: 'systematic' }) }
    }
  }
  const out = race('gmm', null, c.walkers, iterations, steppers, 5)
  for (const tr of trainers) tr.dispose()
  return out
}

/** (b) A Gaussian whose mean moves by `speed` per iteration along e_1, through the Sampler's recipes. */
export function benchGaussianKernels(speed: number, iterations: number, threads: number): KernelCase {
  const N = 10_000
  const d = 10
  const h = 0.1
  const samplers: Sampler[] = []
  const steppers = {} as Record<BackwardKernel, Stepper>
  const init = fillNormals(new Float32Array(N * d), { dim: d, seed: 5, stream: 'init' })
  for (const kernel of KERNELS) {
    const s = new Sampler({ walkers: N, dim: d, stepSize: h, seed: 7, threads })
    samplers.push(s)
    const e = new Float32Array(N)
    const g = new Float32Array(N * d)
    // U_k(x) = |x - m_k|^2 / 2 with m_k = speed k e_1, evaluated at the walkers.
    const observe = (k: number) => {
      const x = s.readView('positions')
      const m0 = speed * k
      for (let i = 0; i < N; i++) {
        let u = 0
        for (let j = 0; j < d; j++) {
          const r = x[i * d + j] - (j === 0 ? m0 : 0)
          u += r * r
          g[i * d + j] = r
        }
        e[i] = 0.5 * u
      }
      s.observe(e, g)
    }
    s.positions.set(init)
    observe(0)
    let k = 0
    steppers[kernel] = () => {
      s.move()
      if (kernel === 'current') observe(k) // the MALA term at theta_k
      observe(k + 1) // 'next': the paper's increment; 'current': the AIS term
      k++
      const ess = s.ess()
      return { ess, resampled: s.maybeResample({ essFraction: ESS_FRACTION, scheme: 'systematic' }) }
    }
  }
  const out = race(`gaussian v=${speed}`, speed, N, iterations, steppers, 3)
  for (const s of samplers) s.dispose()
  return out
}

export const GAUSSIAN_SPEEDS = [0.001, 0.01, 0.03, 0.1, 0.3]

/** Both parts. */
export function benchBackwardKernels(options: { quick: boolean; threads: number; progress?: (msg: string) => void }): BackwardKernelBench {
  const gmmIterations = options.quick ? 300 : 1500
  const gaussianIterations = options.quick ? 100 : 400
  options.progress?.(`backward kernels: the paper's Gaussian mixture, ${gmmIterations} iterations per kernel`)
  const gmm = benchGmmKernels(gmmIterations, options.threads)
  const gaussian: KernelCase[] = []
  for (const v of GAUSSIAN_SPEEDS) {
    options.progress?.(`backward kernels: moving Gaussian, speed ${v}, ${gaussianIterations} iterations per kernel`)
    gaussian.push(benchGaussianKernels(v, gaussianIterations, options.threads))
  }
  return { gmm, gaussian, gmmIterations, gaussianIterations }
}

/** The section's lines for the bench's report. */
export function backwardKernelLines(b: BackwardKernelBench): string[] {
  const out: string[] = []
  out.push(
    `Exact backward kernels: 'next' (ULA kernel at theta_{k+1}, the paper's) vs 'current' (at theta_k: one more U + grad U per iteration).` +
      ` Both kernels side by side, iterations alternated, same seed; systematic resampling at ESS < N/2.` +
      ` ESS = ESS of the weights before each resampling decision, averaged over the run; ESS/s = mean ESS / seconds per iteration.`,
  )
  out.push(
    `(a) the paper's Gaussian mixture (d = 50, N = n = 10^4, Trainer, native mixture), shortened to ${b.gmmIterations} iterations;` +
      ` (b) a moving Gaussian U_k = |x - v k e_1|^2 / 2 (d = 10, N = 10^4, h = 0.1, Sampler recipes, JavaScript energy), ${b.gaussianIterations} iterations.`,
  )
  const header = ['case', 'kernel', 'ms/iter', 'mean ESS/N', 'resamplings', 'ESS/s', 'current/next: ESS', 'time', 'ESS/s']
  const rows: string[][] = []
  for (const c of [b.gmm, ...b.gaussian]) {
    c.rows.forEach((r, i) => {
      rows.push([
        i === 0 ? c.case : '',
        r.kernel,
        r.msPerIteration.toFixed(3),
        r.meanEssFraction.toFixed(4),
        String(r.resamplings),
        si(r.essPerSecond),
        i === 1 ? `${c.essRatio.toFixed(2)}x` : '',
        i === 1 ? `${c.timeRatio.toFixed(2)}x` : '',
        i === 1 ? `${c.essPerSecondRatio.toFixed(2)}x${c.essPerSecondRatio > 1 ? ' (current wins)' : ' (next wins)'}` : '',
      ])
    })
  }
  out.push(table(header, rows))
  return out
}

/** For the final JSON line. */
export function backwardKernelJson(b: BackwardKernelBench): unknown {
  const one = (c: KernelCase) => ({
    case: c.case,
    speed: c.speed,
    essRatio: r4(c.essRatio),
    timeRatio: r4(c.timeRatio),
    essPerSecondRatio: r4(c.essPerSecondRatio),
    rows: c.rows.map((r) => ({ ...r, msPerIteration: r4(r.msPerIteration), meanEssFraction: r4(r.meanEssFraction), essPerSecond: r4(r.essPerSecond) })),
  })
  return { essFraction: ESS_FRACTION, gmmIterations: b.gmmIterations, gaussianIterations: b.gaussianIterations, gmm: one(b.gmm), gaussian: b.gaussian.map(one) }
}

// `node --import tsx bench/backward-kernel.ts`: this section alone (BENCH_QUICK=1: shortened).
if (require.main === module) {
  void (async () => {
    const { loadavg } = await import('node:os')
    const { defaultThreads } = await import('../ts/threads')
    const { progress } = await import('./util')
    const before = loadavg()[0]
    const b = benchBackwardKernels({ quick: process.env.BENCH_QUICK === '1', threads: defaultThreads(), progress })
    const after = loadavg()[0]
    process.stdout.write(`1-minute load average ${before.toFixed(2)} before, ${after.toFixed(2)} after\n${backwardKernelLines(b).join('\n')}\n`)
    process.stdout.write(JSON.stringify({ loadAverage: { start: r4(before), end: r4(after) }, backwardKernels: backwardKernelJson(b) }) + '\n')
  })()
}
