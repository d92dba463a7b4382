/**
 * Exactness of the mini-batch walker variant (the paper's image runs, method.md: the walkers in
 * `batches` groups, one group moving `mcmcSteps` ULA steps per update, every group's weights
 * updated at every update): the trainer's Jarzynski log Z estimate against the exact log Z, over
 * several seeds, within 4 standard errors of the seeds' mean error, on
 *
 * - a JavaScript Gaussian U(x) = |x - m|^2 / (2 s^2) with learnable m and log s, whose exact
 *   log Z = d log(s sqrt(2 pi)) moves by d log 1.5 ~ 1.6 nats as it learns data of scale 1.5;
 * - the native Gaussian mixture (its fused path), whose log Z moves by ~log 2 as it learns its
 *   weights, and whose learned weight must be the data's.
 *
 * A bias in the weights of the groups that do not move (a missed AIS term U_k - U_{k+1}), or in
 * how the groups' normalisers combine, shows as a mean error growing with the updates: the exact
 * log Z moves by tens of standard errors here.
 *
 * Allowance: Jarzynski's equality is exact for a protocol fixed in advance; in training, theta_{k+1}
 * depends on the walkers through the gradient, which leaves an O(1/N) bias in log Z (plus Jensen's
 * -Var/2 of a logarithm). Measured on the Gaussian below with 64 seeds, after 40 updates: -0.035 +-
 * 0.010 at N = 500, -0.021 +- 0.006 at N = 2000, -0.004 +- 0.003 at N = 8000 (mini-batch: -0.039,
 * -0.028, -0.006; the same within errors), so the mean error may exceed 4 SE by up to 0.05 nats at
 * N = 2000, two to three times the measured bias and thirty times less than the log Z change.
 */
import test, { type ExecutionContext } from 'ava'

import { Trainer, type Energy, type IterationStats, type ParamInfo, type SurrogateGrad } from '../ts/index'
import { meanSe } from './helpers'
import { collect, gaussianData, gmmTrainerOptions, smallGmm } from './train-helpers'

const Z_MAX = 4
/** The adaptive protocol's O(1/N) bias allowance at N = 2000 (see above). */
const ADAPTIVE_BIAS = 0.05
const SEEDS = [21, 22, 23, 24, 25, 26, 27, 28]

/** U(x) = |x - m|^2 exp(-2 t) / 2 (s = e^t): parameters m (group `mean`) and t (group `logScale`). */
class ScaledGaussian implements Energy {
  readonly backend = 'js-test'
  readonly dim: number
  #p: Float64Array

  constructor(dim: number) {
    this.dim = dim
    this.#p = new Float64Array(dim + 1)
  }

  parameters(): ParamInfo[] {
    return [
      { name: 'mean', group: 'mean', shape: [this.dim], size: this.dim },
      { name: 'logScale', group: 'logScale', shape: [1], size: 1 },
    ]
  }

  getParams(): Float64Array {
    return this.#p.slice()
  }

  setParams(v: Float64Array): void {
    this.#p.set(v)
  }

  get #precision(): number {
    return Math.exp(-2 * this.#p[this.dim])
  }

  evaluate(x: Float32Array, e: Float32Array, g: Float32Array): void {
    const d = this.dim
    const q = this.#precision
    for (let i = 0; i < e.length; i++) {
      let u = 0
      for (let c = 0; c < d; c++) {
        const r = x[i * d + c] - this.#p[c]
        u += r * r
        g[i * d + c] = q * r
      }
      e[i] = 0.5 * q * u
    }
  }

  energies(x: Float32Array): Float32Array {
    const e = new Float32Array(x.length / this.dim)
    this.evaluate(x, e, new Float32Array(x.length))
    return e
  }

  /** d/dtheta of E_data[U] - E_w[U]: dU/dm = -q r, dU/dt = -q |r|^2. */
  surrogateGrad(data: Float32Array, walkers: Float32Array, weights: Float64Array): SurrogateGrad {
    const d = this.dim
    const q = this.#precision
    const grad = new Float64Array(d + 1)
    const add = (x: Float32Array, i: number, w: number): number => {
      let r2 = 0
      for (let c = 0; c < d; c++) {
        const r = x[i * d + c] - this.#p[c]
        r2 += r * r
        grad[c] -= w * q * r
      }
      grad[d] -= w * q * r2
      return w * 0.5 * q * r2
    }
    const n = data.length / d
    let meanData = 0
    for (let j = 0; j < n; j++) meanData += add(data, j, 1 / n)
    let meanWalker = 0
    for (let i = 0; i < weights.length; i++) if (weights[i] !== 0) meanWalker -= add(walkers, i, -weights[i])
    return { grad, meanDataEnergy: meanData, meanWalkerEnergy: meanWalker }
  }

  logZ(): number {
    return this.dim * (this.#p[this.dim] + 0.5 * Math.log(2 * Math.PI))
  }

  sampleInto(x: Float32Array, seed: bigint): void {
    let s = Number(seed % 2147483647n) || 1
    const u = () => ((s = (s * 48271) % 2147483647) + 0.5) / 2147483647
    const sd = Math.exp(this.#p[this.dim])
    for (let i = 0; i < x.length; i++) x[i] = this.#p[i % this.dim] + sd * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())
  }
}

function checkLogZ(t: ExecutionContext, runs: IterationStats[][], at: number[], label: string, minChange: number): void {
  const last = at[at.length - 1]
  const change = (runs[0][last].logZExact as number) - (runs[0][0].logZExact as number)
  t.true(Math.abs(change) > minChange, `${label}: the exact log Z must move (it moved by ${change})`)
  for (const k of at) {
    const e = meanSe(runs.map((r) => (r[k].logZ as number) - (r[k].logZExact as number)))
    t.log(`${label}, update ${k}: mean error ${e.mean.toExponential(2)} +- ${e.se.toExponential(2)} (exact log Z moved by ${((runs[0][k].logZExact as number) - (runs[0][0].logZExact as number)).toFixed(3)})`)
    t.true(e.sd > 0 && e.sd < 0.1, `${label}, update ${k}: sd over seeds ${e.sd}`)
    t.true(Math.abs(e.mean) < Z_MAX * e.se + ADAPTIVE_BIAS, `${label}, update ${k}: mean error ${e.mean} vs se ${e.se}`)
  }
}

test('mini-batch walkers, JavaScript Gaussian learning its scale: log Z estimates track the exact log Z (8 seeds, 4 SE)', async (t) => {
  const d = 4
  const data = gaussianData(2000, d, 0, 5).map((v) => 1.5 * v)
  const T = 200
  const runs: IterationStats[][] = []
  for (const seed of SEEDS) {
    const energy = new ScaledGaussian(d)
    const tr = new Trainer({
      energy,
      data,
      walkers: 2000,
      stepSize: 0.05,
      seed,
      threads: 2,
      minibatch: { batches: 4, mcmcSteps: 2 },
      optimizer: { type: 'sgd', lr: 0.02, groups: { mean: 0.02, logScale: 0.01 } },
      resample: { scheme: 'systematic', essFraction: 0.5 },
      diagnosticsEvery: 0,
    })
    runs.push(await collect(tr, T))
    const scale = Math.exp(energy.getParams()[d])
    t.true(scale > 1.3 && scale < 1.7, `the scale learned toward the data's 1.5: ${scale}`)
    tr.dispose()
  }
  t.true(runs.some((r) => r[T - 1].resamplings > 0), 'some run resamples')
  checkLogZ(t, runs, [20, 60, 120, T - 1], 'Gaussian', 1)
})

test('mini-batch walkers, native mixture learning its weights: log Z estimates track the exact log Z (8 seeds, 4 SE), and the learned weight is the data\'s', async (t) => {
  const G = smallGmm({ dim: 3, n: 2000, means: [-4, 3], weights: [0.25, 0.75] })
  const T = 300
  const runs: IterationStats[][] = []
  const learned: number[] = []
  for (const seed of SEEDS) {
    const tr = new Trainer(
      gmmTrainerOptions(G, {
        walkers: 2000,
        seed,
        minibatch: { batches: 4, mcmcSteps: 2 },
        optimizer: { type: 'sgd', lr: 0.02, groups: { means: 0.02, logWeights: 0.1 } },
        resample: { scheme: 'systematic', essFraction: 0.5 },
        diagnosticsEvery: 0,
      }),
    )
    runs.push(await collect(tr, T))
    learned.push((tr.energy.describe?.().mixtureWeights as number[])[0])
    tr.dispose()
  }
  checkLogZ(t, runs, [30, 100, 200, T - 1], 'mixture', 0.4)
  const w = meanSe(learned)
  t.log(`learned weight of the -4 mode: ${w.mean.toFixed(4)} +- ${w.se.toExponential(2)} (data 0.25)`)
  t.true(Math.abs(w.mean - 0.25) < 0.05, `learned weight ${w.mean} (data 0.25)`)
})
