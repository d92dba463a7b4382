/**
 * MLP and CNN energies on every backend: grad_x (observe) and the surrogate parameter gradient
 * against fourth-order central differences of the float32 energies (evaluated in float64), the
 * penalty, dead walkers, and no tensor leaks.
 *
 * Tolerance: inputs and parameters lie on a 2^-12 grid and h = 2^-5, so x +- h is exact and the
 * difference quotient's error is the round-off of the energies, 1.5 delta / h with delta the error
 * of one float32 energy, plus O(h^4) truncation (~1e-7 here). With delta = 8 ulps of the energy
 * scale (1 + max|U|): tol = 1.5 * 8 * 2^-23 * (1 + max|U|) / h ~ 4.6e-5 (1 + max|U|); the largest
 * error seen is 0.4 of that, and a wrong gradient is off by O(1). ELU's second derivative jumps at 0,
 * which makes the truncation O(h^2) near the kink: it uses h = 2^-8 (and the tolerance that implies).
 * Sums along random +-1 directions through all P parameters get sqrt(P) times the tolerance.
 */
import test from 'ava'

import type * as TF from '@tensorflow/tfjs'

import { cnnEnergy, initTensorflow, mlpEnergy, Sampler, TfEnergy } from '../ts/index'
import { BACKENDS, centralDiff, EPS32, gridArray, toGrid } from './tf-helpers'
import { assertSameBits } from './bits'

/** Step of the differences: 2^-5, but 2^-8 for ELU, whose second derivative jumps at 0 (O(h^2) error there). */
const H = 2 ** -5
const H_KINK = 2 ** -8

/** Round-off bound of the difference quotient: 1.5 delta / h with delta = 8 ulps of 1 + |U|. */
function tolerance(scale: number, h: number): number {
  return (1.5 * 8 * EPS32 * (1 + scale)) / h
}

/** Energies and gradients at `x` from `observe` on a sampler holding those points. */
function observeAt(energy: TfEnergy, x: Float32Array): { u: Float32Array; g: Float32Array } {
  const d = energy.dim
  const s = new Sampler({ walkers: x.length / d, dim: d, stepSize: 0.01, seed: 1, threads: 1 })
  try {
    s.positions.set(x)
    s.observeEnergy(energy)
    return { u: s.energies.slice(), g: s.gradients.slice() }
  } finally {
    s.dispose()
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]))
  return m
}

/** grad_x from observe against differences of `energies`, one coordinate of every point at a time. */
function checkGradX(t: import('ava').ExecutionContext, energy: TfEnergy, x: Float32Array, coords: number[], h = H): void {
  const d = energy.dim
  const n = x.length / d
  const { u, g } = observeAt(energy, x)
  const direct = energy.energies(x)
  assertSameBits(t, u, direct, 'observe and energies() give the same U')
  const tol = tolerance(maxAbs(u), h)
  let worst = 0
  for (const c of coords) {
    const fd = centralDiff((step) => {
      const y = x.slice()
      for (let i = 0; i < n; i++) y[i * d + c] += step
      return Float64Array.from(energy.energies(y))
    }, h)
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(fd[i] - g[i * d + c]) / tol)
  }
  t.true(worst <= 1, `grad_x: worst error ${worst.toFixed(3)} x tolerance ${tol.toExponential(2)}`)
}

/** The surrogate loss in float64 from float32 energies, as TfEnergy.surrogateGrad defines it. */
function surrogateLoss(energy: TfEnergy, data: Float32Array, walkers: Float32Array, p: Float64Array): number {
  const d = energy.dim
  const ud = energy.energies(data)
  const live = [...p.keys()].filter((i) => p[i] > 0)
  const uw = energy.energies(Float32Array.from(live.flatMap((i) => Array.from(walkers.subarray(i * d, (i + 1) * d)))))
  let mean = 0
  let sq = 0
  for (const v of ud) {
    mean += v / ud.length
    sq += (v * v) / ud.length
  }
  let wsum = 0
  let wsq = 0
  live.forEach((i, k) => {
    wsum += p[i] * uw[k]
    wsq += (uw[k] * uw[k]) / live.length
  })
  return mean - wsum + energy.penalty * (sq + wsq)
}

/** surrogateGrad against differences along the given coordinates and random +-1 directions. */
function checkParamGrad(
  t: import('ava').ExecutionContext,
  energy: TfEnergy,
  data: Float32Array,
  walkers: Float32Array,
  p: Float64Array,
  coords: number[],
  directions: number,
  h = H,
): void {
  energy.setParams(toGrid(energy.getParams()))
  const theta = energy.getParams()
  const sg = energy.surrogateGrad(data, walkers, p)
  t.true(Number.isFinite(sg.meanDataEnergy) && Number.isFinite(sg.meanWalkerEnergy))
  const uScale = Math.max(maxAbs(energy.energies(data)), Math.abs(sg.meanWalkerEnergy))
  const tol = tolerance(uScale * (1 + 2 * energy.penalty * uScale), h)
  const along = (v: Float64Array) =>
    centralDiff((step) => {
      energy.setParams(theta.map((x, i) => x + step * v[i]))
      return Float64Array.of(surrogateLoss(energy, data, walkers, p))
    }, h)[0]
  let worst = 0
  for (const c of coords) {
    const v = new Float64Array(theta.length)
    v[c] = 1
    worst = Math.max(worst, Math.abs(along(v) - sg.grad[c]) / tol)
  }
  const signs = gridArray(theta.length * directions, 99)
  for (let k = 0; k < directions; k++) {
    const v = Float64Array.from(signs.subarray(k * theta.length, (k + 1) * theta.length), (s) => (s >= 0 ? 1 : -1))
    const exact = v.reduce((a, vi, i) => a + vi * sg.grad[i], 0)
    // A sum over all parameters: its round-off grows with their number.
    worst = Math.max(worst, Math.abs(along(v) - exact) / (tol * Math.sqrt(theta.length)))
  }
  energy.setParams(theta)
  t.true(worst <= 1, `parameter gradient: worst error ${worst.toFixed(3)} x tolerance ${tol.toExponential(2)}`)
}

/** Normalised weights with one dead walker (p = 0, position NaN: it must be left out). */
function weightsWithDead(n: number, dim: number, walkers: Float32Array, seed: number): Float64Array {
  const r = gridArray(n, seed)
  const p = Float64Array.from(r, (v) => 1 + v)
  p[1] = 0
  walkers.fill(NaN, dim, 2 * dim)
  const s = p.reduce((a, b) => a + b, 0)
  return p.map((v) => v / s)
}

for (const { name, available } of BACKENDS) {
  const run = available ? test.serial : test.serial.skip

  run(`${name}: MLP grad_x and parameter gradient match central differences, every activation`, async (t) => {
    await initTensorflow({ backend: name })
    for (const activation of ['silu', 'softplus', 'tanh', 'elu'] as const) {
      const e = mlpEnergy({ dim: 3, hidden: [6, 5], activation, seed: 7, penalty: activation === 'silu' ? 0.01 : 0 })
      try {
        t.is(e.backend, `tfjs:${name}`)
        e.setParams(toGrid(e.getParams()))
        const h = activation === 'elu' ? H_KINK : H
        checkGradX(t, e, gridArray(3 * 6, 1, 1.5), [0, 1, 2], h)
        const walkers = gridArray(3 * 5, 3, 1.5)
        const p = weightsWithDead(5, 3, walkers, 4)
        checkParamGrad(t, e, gridArray(3 * 4, 2, 1.5), walkers, p, [...Array(e.getParams().length).keys()], 2, h)
      } finally {
        e.dispose()
      }
    }
  })

  run(`${name}: CNN grad_x and parameter gradient match central differences`, async (t) => {
    await initTensorflow({ backend: name })
    // The paper's layer types at toy size: 5x5 stride 2 pad 4, then 3x3 stride 2 'same', dense.
    const e = cnnEnergy({
      height: 6,
      width: 5,
      channels: 2,
      conv: [{ filters: 3, kernel: 5, stride: 2, pad: 4 }, { filters: 2, kernel: 3, stride: 2, pad: 'same' }, { filters: 2, kernel: 2, stride: 1, pad: 'valid' }],
      dense: [4],
      seed: 3,
      penalty: 0.01,
    })
    try {
      e.setParams(toGrid(e.getParams()))
      const dim = e.dim
      t.is(dim, 60)
      checkGradX(t, e, gridArray(dim * 3, 5), [...Array(dim).keys()].filter((c) => c % 3 === 0))
      const walkers = gridArray(dim * 4, 7)
      const p = weightsWithDead(4, dim, walkers, 8)
      const nParams = e.getParams().length
      const coords = [...Array(nParams).keys()].filter((c) => c % 9 === 0)
      checkParamGrad(t, e, gridArray(dim * 3, 6), walkers, p, coords, 2)
    } finally {
      e.dispose()
    }
  })
}

test.serial('no tensor leaks over 1000 observe + surrogateGrad steps, and dispose frees the variables', async (t) => {
  const { tf } = await initTensorflow({ backend: 'wasm' })
  const before = tf.memory().numTensors
  const e = mlpEnergy({ dim: 2, hidden: [8, 8], seed: 1, penalty: 0.01 })
  const s = new Sampler({ walkers: 32, dim: 2, stepSize: 0.01, seed: 2, threads: 1 })
  try {
    s.positions.set(gridArray(64, 3))
    const data = gridArray(2 * 16, 4)
    const w = new Float64Array(32)
    s.observeEnergy(e)
    const start = tf.memory().numTensors
    t.is(start - before, 6, 'only the six variables')
    for (let k = 0; k < 1000; k++) {
      s.normalizedWeights(w)
      const g = e.surrogateGrad(data, s.positions, w)
      e.setParams(e.getParams().map((v, i) => v - 1e-3 * g.grad[i]))
      s.move()
      s.observeEnergy(e)
    }
    t.is(tf.memory().numTensors, start)
  } finally {
    s.dispose()
    e.dispose()
  }
  t.is(tf.memory().numTensors, before)
  t.throws(() => e.getParams(), { code: 'ERR_JARZYN_DISPOSED' })
})

test.serial('non-finite energies mark walkers instead of throwing', async (t) => {
  await initTensorflow({ backend: 'wasm' })
  const e = mlpEnergy({ dim: 2, hidden: [4], seed: 1 })
  const s = new Sampler({ walkers: 4, dim: 2, stepSize: 0.01, seed: 2, threads: 1 })
  try {
    s.positions.set([0, 0, NaN, 1, 1, Infinity, 0.5, 0.5])
    const r = s.observeEnergy(e)
    t.is(r.invalid, 2)
    t.deepEqual(Array.from(s.logWeights, Number.isFinite), [true, false, false, true])
  } finally {
    s.dispose()
    e.dispose()
  }
})

test.serial('TfEnergy from a hand-written function: analytic gradients, [n, 1] outputs, option checks', async (t) => {
  const { tf } = await initTensorflow({ backend: 'wasm' })
  const a = tf.variable(tf.tensor1d([0.5, -0.25]))
  // U(x) = |x - a|^2 / 2, returned as [n, 1] on purpose.
  const e = new TfEnergy({
    dim: 2,
    energy: (x) => tf.reshape(tf.mul(tf.sum(tf.square(tf.sub(x, a)), 1), 0.5), [-1, 1]) as unknown as TF.Tensor1D,
    parameters: [{ name: 'center', variable: a, group: 'center' }],
  })
  try {
    t.deepEqual(e.parameters(), [{ name: 'center', group: 'center', shape: [2], size: 2 }])
    const data = Float32Array.of(1, 0, 0, 1)
    const walkers = Float32Array.of(2, 2, -1, 0)
    const p = Float64Array.of(0.25, 0.75)
    const g = e.surrogateGrad(data, walkers, p)
    // dU/da = a - x: mean over data minus p-weighted over walkers.
    const want = [0, 1].map((c) => [0.5, -0.25][c] - (data[c] + data[2 + c]) / 2 - ([0.5, -0.25][c] - (0.25 * walkers[c] + 0.75 * walkers[2 + c])))
    g.grad.forEach((v, c) => t.true(Math.abs(v - want[c]) < 1e-6))
    t.true(Math.abs(g.meanDataEnergy - (0.5 * (0.25 + 0.0625) + 0.5 * (0.5 ** 2 + 1.25 ** 2)) / 2) < 1e-6)
    const s = new Sampler({ walkers: 2, dim: 2, stepSize: 0.1, seed: 1, threads: 1 })
    s.positions.set(walkers)
    s.observeEnergy(e)
    t.deepEqual(Array.from(s.gradients), [1.5, 2.25, -1.5, 0.25])
    s.dispose()
  } finally {
    e.dispose()
  }
  t.throws(() => new TfEnergy({ dim: 2, energy: (x: TF.Tensor2D) => x as unknown as TF.Tensor1D, parameters: [], extra: 1 } as never), { code: 'ERR_JARZYN_UNKNOWN_OPTION' })
  t.throws(() => new TfEnergy({ dim: 2, energy: (x) => x as unknown as TF.Tensor1D, parameters: [{ name: 'w', variable: tf.zeros([2]) as TF.Variable }] }), {
    code: 'ERR_JARZYN_INVALID_OPTION',
  })
})

test.serial('cnnEnergy with a base and zeroOutput: U_theta0 is the base, the base parameters train, the penalty takes the network only', async (t) => {
  const { tf } = await initTensorflow({ backend: 'wasm' })
  const side = 6
  const c = tf.variable(tf.tensor1d([0.25]))
  // U_base = |x|^2 / 2 + c: a Gaussian with a learnable offset.
  const base = { energy: (x: TF.Tensor2D) => tf.add(tf.mul(tf.sum(tf.square(x), 1), 0.5), c) as TF.Tensor1D, parameters: [{ name: 'base/c', variable: c, group: 'base' }] }
  const e = cnnEnergy({ height: side, width: side, conv: [4], dense: [8], seed: 3, base, zeroOutput: true, penalty: 0.1 })
  try {
    const x = gridArray(5 * side * side, 7)
    const u = e.energies(x)
    for (let j = 0; j < 5; j++) {
      let q = 0
      for (let a = 0; a < side * side; a++) q += 0.5 * x[j * side * side + a] ** 2
      t.true(Math.abs(u[j] - (q + 0.25)) < 1e-5 * (1 + q), `U_theta0 = base at point ${j}: ${u[j]} vs ${q + 0.25}`)
    }
    const info = e.parameters()
    t.is(info[info.length - 1].name, 'base/c', 'base parameters come last')
    // d/dc [mean_j U(data_j) - sum_i p_i U(X_i)] = 1 - 1 = 0; the penalty on the network (0 at theta_0)
    // adds nothing: a penalty on the whole U (about 10 here) would give 2 c (mean U).
    const data = x.subarray(0, 3 * side * side)
    const walkers = x.subarray(3 * side * side)
    const g = e.surrogateGrad(data, walkers, Float64Array.of(0.5, 0.5))
    t.true(Math.abs(g.grad[g.grad.length - 1]) < 1e-6, `d/dc = ${g.grad[g.grad.length - 1]}`)
  } finally {
    e.dispose()
  }
  t.throws(() => cnnEnergy({ height: 4, width: 4, base: { energy: 1 } as never }), { code: 'ERR_JARZYN_INVALID_OPTION' })
  t.throws(() => cnnEnergy({ height: 4, width: 4, zeroOutput: 'yes' as never }), { code: 'ERR_JARZYN_INVALID_OPTION' })
})
