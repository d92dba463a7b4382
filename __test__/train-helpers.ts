/**
 * Helpers of the training-layer tests: small Gaussian-mixture trainers, a plain-JavaScript energy
 * that can be made to go non-finite on demand, stats without their timings, and temporary folders
 * (bit-level comparisons: bits.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { ExecutionContext } from 'ava'

import { GaussianMixtureEnergy, Trainer } from '../ts/index'
import { checkJarzynError } from './helpers'
import type { Energy, IterationStats, ParamInfo, Profiler, SurrogateGrad, TrainerOptions } from '../ts/index'

// ---------------------------------------------------------------------------------------------
// Temporary folders

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix = 'jarzyn-train-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

// ---------------------------------------------------------------------------------------------
// A small Gaussian-mixture problem

export interface SmallGmm {
  dim: number
  data: Float32Array
  /** A new model at theta_0 (each trainer needs its own: the energy holds the parameters). */
  model(): GaussianMixtureEnergy
}

/**
 * Data: `n` stratified exact samples of unit Gaussians at means[i] e1 with `weights`. Model: the
 * experiment's initial model (means near 0, first log-weight held fixed).
 */
export function smallGmm(opts: { dim?: number; n?: number; means?: number[]; weights?: number[]; seed?: number } = {}): SmallGmm {
  const dim = opts.dim ?? 3
  const n = opts.n ?? 200
  const means = opts.means ?? [-4, 3]
  const weights = opts.weights ?? [0.25, 0.75]
  const truth = new GaussianMixtureEnergy({
    dim,
    threads: 1,
    means: means.map((m) => [m, ...new Array(dim - 1).fill(0)]),
    logWeights: weights.map((w) => -Math.log(w)),
  })
  const { x: data } = truth.sample(n, opts.seed ?? 11, { stratified: true })
  const model = () =>
    new GaussianMixtureEnergy({
      dim,
      threads: 1,
      means: means.map((_, i) => [0.1 * (2 * i - 1), ...Array.from({ length: dim - 1 }, (_, c) => 0.01 * Math.sin(7 * i + c))]),
      fixed: { logWeights: [0] },
    })
  return { dim, data, model }
}

/** Trainer options for a small GMM run (a new energy each call). */
export function gmmTrainerOptions(g: SmallGmm, extra: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    energy: g.model(),
    data: g.data,
    walkers: 120,
    stepSize: 0.1,
    optimizer: { type: 'sgd', lr: 0.02, groups: { means: 0.02, logWeights: 0.05 } },
    seed: 1234,
    threads: 2,
    ...extra,
  }
}

// ---------------------------------------------------------------------------------------------
// A plain-JavaScript energy: U(x) = |x - m|^2 / 2 in d dimensions, learnable mean m

/** How a {@link JsGaussianEnergy} misbehaves: from observation number `fromObserve` on (0 = init). */
export interface Poison {
  /** Which output goes non-finite. */
  what: 'walkerEnergy' | 'dataEnergy' | 'paramGrad'
  /** First observation / surrogate call affected (counted from 0). */
  from: number
  /** For walkerEnergy: how many walkers (default all). */
  walkers?: number
  /** Only that one call (default: every call from `from` on). */
  once?: boolean
}

/**
 * U(x) = |x - m|^2 / 2 with a learnable mean m (group `mean`): Z = (2 pi)^(d/2) for every m. The
 * `poison` field makes chosen outputs NaN at a chosen call, to exercise the divergence checks.
 */
export class JsGaussianEnergy implements Energy {
  readonly backend = 'js-test'
  readonly dim: number
  #m: Float64Array
  poison: Poison | null = null
  observeCalls = 0
  surrogateCalls = 0

  constructor(dim: number, mean: number[] = new Array(dim).fill(0)) {
    this.dim = dim
    this.#m = Float64Array.from(mean)
  }

  parameters(): ParamInfo[] {
    return [{ name: 'mean', group: 'mean', shape: [this.dim], size: this.dim }]
  }

  getParams(): Float64Array {
    return this.#m.slice()
  }

  setParams(v: Float64Array): void {
    this.#m.set(v)
  }

  #hit(what: Poison['what'], call: number): Poison | null {
    const p = this.poison
    if (!p || p.what !== what) return null
    if (p.once ? call !== p.from : call < p.from) return null
    return p
  }

  evaluate(x: Float32Array, e: Float32Array, g: Float32Array, _profiler?: Profiler): void {
    const call = this.observeCalls++
    const d = this.dim
    const n = e.length
    for (let i = 0; i < n; i++) {
      let u = 0
      for (let c = 0; c < d; c++) {
        const r = x[i * d + c] - this.#m[c]
        u += r * r
        g[i * d + c] = r
      }
      e[i] = 0.5 * u
    }
    const p = this.#hit('walkerEnergy', call)
    if (p) for (let i = 0; i < Math.min(p.walkers ?? n, n); i++) e[i] = NaN
  }

  surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array): SurrogateGrad {
    const call = this.surrogateCalls++
    const d = this.dim
    const n = data.length / d
    const grad = new Float64Array(d)
    let meanData = 0
    for (let j = 0; j < n; j++) {
      for (let c = 0; c < d; c++) {
        const r = data[j * d + c] - this.#m[c]
        meanData += (0.5 * r * r) / n
        grad[c] -= r / n
      }
    }
    let meanWalker = 0
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] === 0) continue
      for (let c = 0; c < d; c++) {
        const r = walkers[i * d + c] - this.#m[c]
        meanWalker += weights[i] * 0.5 * r * r
        grad[c] += weights[i] * r
      }
    }
    if (this.#hit('dataEnergy', call)) meanData = NaN
    if (this.#hit('paramGrad', call)) grad[d - 1] = NaN
    return { grad, meanDataEnergy: meanData, meanWalkerEnergy: meanWalker }
  }

  energies(x: Float32Array): Float32Array {
    const d = this.dim
    const out = new Float32Array(x.length / d)
    for (let i = 0; i < out.length; i++) {
      let u = 0
      for (let c = 0; c < d; c++) u += (x[i * d + c] - this.#m[c]) ** 2
      out[i] = 0.5 * u
    }
    return out
  }

  logZ(): number {
    return 0.5 * this.dim * Math.log(2 * Math.PI)
  }

  sampleInto(x: Float32Array, seed: bigint): void {
    // Box-Muller from a tiny LCG: exact N(m, I) samples up to the generator's quality.
    let s = Number(seed % 2147483647n) || 1
    const u = () => ((s = (s * 48271) % 2147483647) + 0.5) / 2147483647
    for (let i = 0; i < x.length; i++) {
      x[i] = this.#m[i % this.dim] + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())
    }
  }
}

/** A 1-D-in-spirit data set for {@link JsGaussianEnergy}: n points at `center` plus N(0, 1) noise. */
export function gaussianData(n: number, dim: number, center: number, seed = 3): Float32Array {
  let s = seed
  const u = () => ((s = (s * 48271) % 2147483647) + 0.5) / 2147483647
  const x = new Float32Array(n * dim)
  for (let i = 0; i < x.length; i++) x[i] = center + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())
  return x
}

// ---------------------------------------------------------------------------------------------
// Running and comparing

/** Run `iterations` iterations, collecting the stats. */
export async function collect(trainer: Trainer, iterations: number, signal?: AbortSignal): Promise<IterationStats[]> {
  const out: IterationStats[] = []
  for await (const s of trainer.run({ iterations, signal })) out.push(s)
  return out
}

/**
 * The stats without the fields that measure time, and without the weight diagnostics `khat` and
 * `cess`: those are pure diagnostics (they read the log-weights and change nothing in the run, whose
 * bits are the same whatever `diagnosticsEvery` is), so the recorded digests of the run's output
 * do not depend on them; `__test__/weight-diagnostics.spec.ts` tests them.
 */
export function statsWithoutTime(s: IterationStats): Omit<IterationStats, 'timings' | 'elapsed' | 'khat' | 'cess'> {
  const { timings: _t, elapsed: _e, khat: _k, cess: _c, ...rest } = s
  return rest
}

/** Assert that an async action rejects with a jarzyn error of exactly `Class` and `code`; returns it. */
export async function rejectsJarzyn(
  t: ExecutionContext,
  f: () => Promise<unknown>,
  Class: typeof Error | typeof TypeError | typeof RangeError,
  code: string,
  label = '',
): Promise<(Error & Record<string, unknown>) | undefined> {
  let err: unknown
  try {
    await f()
  } catch (e) {
    err = e
  }
  return checkJarzynError(t, err, Class, code, label) as (Error & Record<string, unknown>) | undefined
}
