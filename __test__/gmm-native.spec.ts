/**
 * The native Gaussian-mixture energy against closed forms and finite differences:
 * U(x) = -log sum_i exp(-|x - a_i|^2 / (2 s_i^2) - z_i), Z = (2 pi)^(d/2) sum_i s_i^d exp(-z_i).
 * The core computes per point in f32 (sums in f64), so tolerances are f32 round-off, scaled.
 */
import test from 'ava'

import { GaussianMixtureEnergy, Sampler, Trainer } from '../ts/index'
import { gaussianData, smallGmm, gmmTrainerOptions, collect } from './train-helpers'
import { sameBits } from './bits'

const D = 4
const K = 3
const MEANS = [
  [-2, 0.5, 0, 1],
  [1.5, -1, 0.25, 0],
  [0.5, 2, -1, -0.5],
]
const Z = [0.3, -0.2, 0.7]
const LOG_S = [0, 0.25, -0.3]

function model(extra: Partial<ConstructorParameters<typeof GaussianMixtureEnergy>[0]> = {}): GaussianMixtureEnergy {
  return new GaussianMixtureEnergy({ dim: D, means: MEANS, logWeights: Z, logScales: LOG_S, threads: 2, ...extra })
}

/** f64 reference: U(x), grad_x U, dU/dtheta at one point, for parameters p = [means | z | log s]. */
function reference(p: ArrayLike<number>, x: ArrayLike<number>, d: number, k: number) {
  const r = new Float64Array(k)
  const sq = new Float64Array(k)
  let m = -Infinity
  for (let i = 0; i < k; i++) {
    const s2 = Math.exp(2 * p[k * d + k + i])
    for (let c = 0; c < d; c++) sq[i] += (x[c] - p[i * d + c]) ** 2
    r[i] = -sq[i] / (2 * s2) - p[k * d + i]
    m = Math.max(m, r[i])
  }
  let s = 0
  for (let i = 0; i < k; i++) s += Math.exp(r[i] - m)
  const u = -(m + Math.log(s))
  const gamma = Array.from(r, (v) => Math.exp(v - m) / s)
  const gx = new Float64Array(d)
  const gp = new Float64Array(k * (d + 2))
  for (let i = 0; i < k; i++) {
    const inv = Math.exp(-2 * p[k * d + k + i])
    for (let c = 0; c < d; c++) {
      gx[c] += gamma[i] * (x[c] - p[i * d + c]) * inv
      gp[i * d + c] = -gamma[i] * (x[c] - p[i * d + c]) * inv
    }
    gp[k * d + i] = gamma[i]
    gp[k * d + k + i] = -gamma[i] * sq[i] * inv
  }
  return { u, gx, gp }
}

function logSumExp(a: number[]): number {
  const m = Math.max(...a)
  return m + Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0))
}

/** Points scattered around the components (and some between them). */
function points(n: number, seed: number): Float32Array {
  const x = gaussianData(n, D, 0, seed)
  for (let j = 0; j < n; j++) for (let c = 0; c < D; c++) x[j * D + c] = x[j * D + c] * 1.3 + MEANS[j % K][c]
  return x
}

test('logZ() and mixtureWeights() match the closed form d/2 log(2 pi) + log sum_i s_i^d exp(-z_i)', (t) => {
  const g = model()
  const logMass = Z.map((z, i) => D * LOG_S[i] - z)
  const want = (D / 2) * Math.log(2 * Math.PI) + logSumExp(logMass)
  t.true(Math.abs(g.logZ() - want) < 1e-12 * Math.abs(want), `logZ ${g.logZ()} vs ${want}`)
  const w = g.mixtureWeights()
  t.is(w.length, K)
  const lz = logSumExp(logMass)
  w.forEach((v, i) => t.true(Math.abs(v - Math.exp(logMass[i] - lz)) < 1e-14, `weight ${i}: ${v}`))
  t.true(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-14)
  t.deepEqual(g.describe(), { mixtureWeights: w, logZ: g.logZ() })
  // The experiment's parametrisation: unit scales, z_i = -log w_i gives weights w.
  const e = new GaussianMixtureEnergy({ dim: 50, means: [new Array(50).fill(0), new Array(50).fill(1)], logWeights: [-Math.log(0.25), -Math.log(0.75)], threads: 1 })
  t.true(Math.abs(e.mixtureWeights()[0] - 0.25) < 1e-14)
  t.true(Math.abs(e.logZ() - 25 * Math.log(2 * Math.PI)) < 1e-12)
})

test('logDensity() is the log of the normalised mixture density sum_i w_i N(x; a_i, s_i^2 I)', (t) => {
  const g = model()
  const x = points(60, 5)
  const ld = g.logDensity(x)
  const w = g.mixtureWeights()
  for (let j = 0; j < 60; j++) {
    const terms = w.map((wi, i) => {
      const s2 = Math.exp(2 * LOG_S[i])
      let sq = 0
      for (let c = 0; c < D; c++) sq += (x[j * D + c] - MEANS[i][c]) ** 2
      return Math.log(wi) - (D / 2) * Math.log(2 * Math.PI * s2) - sq / (2 * s2)
    })
    const want = logSumExp(terms)
    // U is computed in f32: relative error ~ 1e-7 of U.
    t.true(Math.abs(ld[j] - want) < 1e-5 * (1 + Math.abs(want)), `point ${j}: ${ld[j]} vs ${want}`)
  }
})

test('evaluate(): energies match the f64 reference; gradients match central finite differences', (t) => {
  const g = model()
  const n = 40
  const x = points(n, 9)
  const { energy, grad } = g.energyAndGrad(x)
  t.deepEqual(g.energies(x), energy)
  const p = g.getParams()
  let worstFd = 0
  let worstRef = 0
  for (let j = 0; j < n; j++) {
    const row = x.subarray(j * D, (j + 1) * D)
    const ref = reference(p, row, D, K)
    t.true(Math.abs(energy[j] - ref.u) < 2e-6 * (1 + Math.abs(ref.u)), `U at point ${j}: ${energy[j]} vs ${ref.u}`)
    for (let c = 0; c < D; c++) {
      // Central differences of the native f32 energy; the step is a power of two and the actual
      // perturbation is read back after rounding to f32.
      const h = 2 ** -6
      const xp = row.slice()
      const xm = row.slice()
      xp[c] += h
      xm[c] -= h
      const up = g.energies(xp)[0]
      const um = g.energies(xm)[0]
      const fd = (up - um) / (xp[c] - xm[c])
      // Truncation h^2 U'''/6 ~ 1e-4 plus f32 rounding of U (6e-8 |U| / h ~ 1e-4 for |U| ~ 20).
      const tol = 1e-3 * (1 + Math.abs(fd)) + (2e-7 * (1 + Math.abs(ref.u))) / h
      worstFd = Math.max(worstFd, Math.abs(grad[j * D + c] - fd) / tol)
      worstRef = Math.max(worstRef, Math.abs(grad[j * D + c] - ref.gx[c]) / (1e-5 * (1 + Math.abs(ref.gx[c]))))
    }
  }
  t.true(worstFd < 1, `worst |grad - FD| / tol = ${worstFd}`)
  t.true(worstRef < 1, `worst |grad - analytic f64| / tol = ${worstRef}`)
})

test('surrogateGrad() is the gradient of mean U(data) - sum_i p_i U(x_i) (finite differences in theta)', (t) => {
  const g = model({ learn: ['means', 'logWeights', 'logScales'] })
  const data = points(150, 21)
  const walkers = points(90, 33)
  const p = new Float64Array(90)
  for (let i = 0; i < 90; i++) p[i] = 1 + (i % 7)
  const sum = p.reduce((a, b) => a + b, 0)
  for (let i = 0; i < 90; i++) p[i] /= sum
  p[4] = 0 // a zero-weight walker is skipped, whatever its position
  walkers[4 * D] = NaN
  const theta = g.getParams()
  const sg = g.surrogateGrad(data, walkers, p)
  t.is(sg.grad.length, K * (D + 2))
  const loss = (th: Float64Array, f64: boolean) => {
    let a = 0
    let b = 0
    if (f64) {
      for (let j = 0; j < 150; j++) a += reference(th, data.subarray(j * D, (j + 1) * D), D, K).u / 150
      for (let i = 0; i < 90; i++) if (p[i] !== 0) b += p[i] * reference(th, walkers.subarray(i * D, (i + 1) * D), D, K).u
      return a - b
    }
    g.setParams(th)
    const ud = g.energies(data)
    const uw = g.energies(walkers)
    for (let j = 0; j < 150; j++) a += ud[j] / 150
    for (let i = 0; i < 90; i++) if (p[i] !== 0) b += p[i] * uw[i]
    g.setParams(theta)
    return a - b
  }
  // meanDataEnergy and meanWalkerEnergy are the two halves of the loss at theta.
  let md = 0
  let mw = 0
  for (let j = 0; j < 150; j++) md += reference(theta, data.subarray(j * D, (j + 1) * D), D, K).u / 150
  for (let i = 0; i < 90; i++) if (p[i] !== 0) mw += p[i] * reference(theta, walkers.subarray(i * D, (i + 1) * D), D, K).u
  t.true(Math.abs(sg.meanDataEnergy - md) < 1e-5 * (1 + Math.abs(md)), `meanDataEnergy ${sg.meanDataEnergy} vs ${md}`)
  t.true(Math.abs(sg.meanWalkerEnergy - mw) < 1e-5 * (1 + Math.abs(mw)), `meanWalkerEnergy ${sg.meanWalkerEnergy} vs ${mw}`)
  for (let q = 0; q < theta.length; q++) {
    // Native f32 energies: step 1e-2 (rounding of the loss ~1e-6 / 1e-2); f64 reference: 1e-5.
    for (const [f64, eps, tol] of [
      [false, 1e-2, 2e-3],
      [true, 1e-5, 2e-5],
    ] as const) {
      const tp = theta.slice()
      const tm = theta.slice()
      tp[q] += eps
      tm[q] -= eps
      const fd = (loss(tp, f64) - loss(tm, f64)) / (2 * eps)
      t.true(Math.abs(sg.grad[q] - fd) < tol * (1 + Math.abs(fd)), `parameter ${q} (${f64 ? 'f64 reference' : 'native'} FD): ${sg.grad[q]} vs ${fd}`)
    }
  }
})

test('learn mask: fixed entries and unlearned groups get zero gradient and never change in training', async (t) => {
  const g = model({ learn: ['means', 'logWeights', 'logScales'], fixed: { means: [1], logWeights: [0], logScales: [2] } })
  const mask = g.learnMask
  const want = new Float64Array(K * (D + 2)).fill(1)
  want.fill(0, D, 2 * D) // means of component 1
  want[K * D] = 0 // z_0
  want[K * D + K + 2] = 0 // log s_2
  t.deepEqual(mask, want)
  const sg = g.surrogateGrad(points(50, 2), points(40, 3), new Float64Array(40).fill(1 / 40))
  for (let q = 0; q < mask.length; q++) {
    if (mask[q] === 0) t.true(sg.grad[q] === 0, `fixed entry ${q} has gradient ${sg.grad[q]}`)
    else t.not(sg.grad[q], 0, `learned entry ${q} has a zero gradient`)
  }
  // Default: means and log-weights learned, scales not.
  t.deepEqual(Array.from(new GaussianMixtureEnergy({ dim: 2, means: [[0, 0], [1, 1]], threads: 1 }).learnMask), [1, 1, 1, 1, 1, 1, 0, 0])

  // Training moves the learned entries and leaves the fixed ones bit-identical.
  const small = smallGmm({ dim: 2, n: 120, means: [-3, 2] })
  const energy = new GaussianMixtureEnergy({
    dim: 2,
    threads: 1,
    means: [[-0.1, 0], [0.1, 0.05]],
    logWeights: [0.2, -0.1],
    logScales: [0.1, -0.2],
    learn: ['means', 'logWeights'],
    fixed: { logWeights: [0], means: [1] },
  })
  const before = energy.getParams()
  const trainer = new Trainer(gmmTrainerOptions(small, { energy, walkers: 64, method: 'pcd' }))
  await collect(trainer, 15)
  const after = energy.getParams()
  const fixed = [2, 3, 4, 6, 7] // means[1][*], z_0, log s_0, log s_1
  for (const q of fixed) t.true(Object.is(after[q], before[q]), `fixed entry ${q} moved: ${before[q]} -> ${after[q]}`)
  for (const q of [0, 1, 5]) t.not(after[q], before[q], `learned entry ${q} did not move`)
  trainer.dispose()
})

test('sample(): component frequencies, means and variances within standard errors; stratified counts exact; deterministic', (t) => {
  const g = model()
  const w = g.mixtureWeights()
  const n = 12000
  const { x, component } = g.sample(n, 77)
  t.is(x.length, n * D)
  t.is(component.length, n)
  const cnt = new Array(K).fill(0)
  const s1 = MEANS.map(() => new Float64Array(D))
  const s2 = MEANS.map(() => new Float64Array(D))
  for (let j = 0; j < n; j++) {
    const i = component[j]
    cnt[i]++
    for (let c = 0; c < D; c++) {
      s1[i][c] += x[j * D + c]
      s2[i][c] += x[j * D + c] ** 2
    }
  }
  for (let i = 0; i < K; i++) {
    const se = Math.sqrt((w[i] * (1 - w[i])) / n)
    t.true(Math.abs(cnt[i] / n - w[i]) < 4 * se, `component ${i}: frequency ${cnt[i] / n} vs ${w[i]} (SE ${se})`)
    const v = Math.exp(2 * LOG_S[i])
    for (let c = 0; c < D; c++) {
      const mean = s1[i][c] / cnt[i]
      const variance = s2[i][c] / cnt[i] - mean * mean
      t.true(Math.abs(mean - MEANS[i][c]) < 4 * Math.sqrt(v / cnt[i]), `component ${i}, coordinate ${c}: mean ${mean} vs ${MEANS[i][c]}`)
      // SE of a Gaussian sample variance: v sqrt(2 / (n - 1)).
      t.true(Math.abs(variance - v) < 4 * v * Math.sqrt(2 / (cnt[i] - 1)), `component ${i}, coordinate ${c}: variance ${variance} vs ${v}`)
    }
  }
  // Same seed, same bits; another seed differs.
  const again = g.sample(n, 77)
  t.true(sameBits(again.x, x) && sameBits(again.component, component))
  t.false(sameBits(g.sample(n, 78).x, x))
  // Stratified: counts are n w_i rounded by largest remainder, components in order.
  const st = g.sample(1001, 5, { stratified: true })
  const sc = new Array(K).fill(0)
  for (const c of st.component) sc[c]++
  const exact = w.map((v) => 1001 * v)
  const floor = exact.map(Math.floor)
  const left = 1001 - floor.reduce((a, b) => a + b, 0)
  const order = [0, 1, 2].sort((a, b) => exact[b] - floor[b] - (exact[a] - floor[a]) || a - b)
  for (let r = 0; r < left; r++) floor[order[r]]++
  t.deepEqual(sc, floor)
  for (let j = 1; j < 1001; j++) t.true(st.component[j] >= st.component[j - 1])
})

test('walkerParamGrad: the walker sums folded into an observation follow later changes of the sampler', (t) => {
  const d = 3
  const energy = new GaussianMixtureEnergy({ dim: d, means: [[-1, 0, 0], [1.5, 0, 0]], logWeights: [0, 0.4], threads: 2 })
  const s = new Sampler({ walkers: 3000, dim: d, stepSize: 0.3, seed: 8, threads: 2 })
  energy.sampleInto(s.positions, 4n)
  const data = energy.sample(500, 9).x
  s.observeEnergy(energy)
  s.move()
  s.observeEnergy(energy) // the weights are no longer uniform
  const direct = () => energy.surrogateGrad(data, s.positions, s.normalizedWeights())
  const mask = energy.learnMask
  const fromSampler = () => {
    const dg = energy.dataParamGrad(data).grad
    const wg = energy.walkerParamGrad(s).grad
    return dg.map((v, i) => mask[i] * (v - wg[i]))
  }
  const close = (a: Float64Array, b: Float64Array, what: string) => {
    for (let i = 0; i < a.length; i++) t.true(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(b[i])), `${what} [${i}]: ${a[i]} vs ${b[i]}`)
  }
  close(fromSampler(), direct().grad, 'after observe')
  // Re-initialising resets the weights without an observation: the folded sums must not be reused.
  s.reinitialize()
  close(fromSampler(), direct().grad, 'after reinitialize')
  s.dispose()
})
