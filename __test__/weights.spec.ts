/**
 * The log-weight update, one step at a time, against references computed here in f64 from the f32
 * positions, energies and gradients the sampler holds (method.md section 2):
 *   A_{k+1} = A_k + alpha_k(X_k, X_{k+1}) - alpha_{k+1}(X_{k+1}, X_k),
 *   alpha_k(x, y) = U_k(x) + 1/2 (y - x) . grad U_k(x) + h/4 |grad U_k(x)|^2.
 * With frozen parameters the increment is the MALA log acceptance ratio.
 */
import test from 'ava'

import { Sampler, fillNormals } from '../ts/index'
import { logMeanExp } from './helpers'
import { assertSameBits } from './bits'

const N = 2000
const D = 3

/** A non-Gaussian energy: U(x) = sum_j a x_j^4 / 4 - b x_j^2 / 2 + c_j x_j (a double well per axis). */
interface Theta {
  a: number
  b: number
  c: number[]
}

function evalEnergy(th: Theta, x: Float32Array, e: Float32Array, g: Float32Array): void {
  for (let i = 0; i < e.length; i++) {
    let u = 0
    for (let j = 0; j < D; j++) {
      const v = x[i * D + j]
      u += (th.a * v ** 4) / 4 - (th.b * v * v) / 2 + th.c[j] * v
      g[i * D + j] = th.a * v ** 3 - th.b * v + th.c[j]
    }
    e[i] = u
  }
}

const TH0: Theta = { a: 0.5, b: 1.0, c: [0.1, -0.2, 0.3] }
const TH1: Theta = { a: 0.6, b: 0.8, c: [0.3, -0.1, 0.0] }
const TH2: Theta = { a: 0.4, b: 1.2, c: [-0.2, 0.2, 0.1] }

/** log N(y; x - h g(x), 2h) up to the constant, in f64 from the f32 inputs of walker i. */
function logKernel(x: Float32Array, y: Float32Array, gx: Float32Array, h: number, i: number): number {
  let r2 = 0
  for (let j = 0; j < D; j++) {
    const r = y[i * D + j] - x[i * D + j] + h * gx[i * D + j]
    r2 += r * r
  }
  return -r2 / (4 * h)
}

/** alpha(x, y) = U(x) + 1/2 (y - x) . g(x) + h/4 |g(x)|^2 of walker i. */
function alpha(ux: Float32Array, gx: Float32Array, x: Float32Array, y: Float32Array, h: number, i: number): number {
  let dot = 0
  let g2 = 0
  for (let j = 0; j < D; j++) {
    const g = gx[i * D + j]
    dot += (y[i * D + j] - x[i * D + j]) * g
    g2 += g * g
  }
  return ux[i] + 0.5 * dot + (h / 4) * g2
}

function makeSampler(seed: number, h: number, weighted = true): Sampler {
  const s = new Sampler({ walkers: N, dim: D, stepSize: h, seed, threads: 2, weighted })
  fillNormals(s.positions, { dim: D, seed, stream: 'init' })
  return s
}

/** Absolute tolerance for comparing two f64 evaluations of sums of terms of size `mag`. */
const tol = (mag: number) => 1e-11 * (1 + mag)

test('first observation only records: A = 0, log Z ratio 0, ESS = N', (t) => {
  const s = makeSampler(1, 0.1)
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  evalEnergy(TH0, s.positions, e, g)
  const r = s.observe(e, g)
  t.deepEqual(r, { newlyInvalid: 0, invalid: 0 })
  t.true(s.logWeights.every((a) => a === 0))
  t.is(s.logNormalizerRatio(), 0)
  t.is(s.ess(), N)
  t.deepEqual(s.summary(), { ess: N, cv2: 0, logMeanWeight: 0, maxLogWeight: 0, zeroWeight: 0 })
  s.dispose()
})

test('frozen parameters: one step adds exactly the MALA log acceptance ratio', (t) => {
  for (const h of [0.05, 0.3, 1.0]) {
    const s = makeSampler(2, h)
    const e0 = new Float32Array(N)
    const g0 = new Float32Array(N * D)
    evalEnergy(TH0, s.positions, e0, g0)
    s.observe(e0, g0)
    const x = s.positions.slice()
    s.move()
    const y = s.positions
    const e1 = new Float32Array(N)
    const g1 = new Float32Array(N * D)
    evalEnergy(TH0, y, e1, g1)
    s.observe(e1, g1)
    let worst = 0
    let nonTrivial = 0
    for (let i = 0; i < N; i++) {
      // log [rho(y) q(y -> x)] - log [rho(x) q(x -> y)], rho = exp(-U), q the ULA kernel.
      const fwd = logKernel(x, y, g0, h, i)
      const bwd = logKernel(y, x, g1, h, i)
      const ref = -e1[i] + bwd - (-e0[i] + fwd)
      const err = Math.abs(s.logWeights[i] - ref)
      worst = Math.max(worst, err / tol(Math.abs(e0[i]) + Math.abs(e1[i]) + Math.abs(fwd) + Math.abs(bwd)))
      if (Math.abs(ref) > 1e-3) nonTrivial++
    }
    t.true(worst <= 1, `h=${h}: worst error ${worst} tolerances`)
    t.true(nonTrivial > N / 2, `h=${h}: the ratios are not trivially zero (${nonTrivial})`)
    t.true(Math.abs(s.logNormalizerRatio() - logMeanExp(s.logWeights)) < 1e-12)
    s.dispose()
  }
})

test('changing parameters: alpha_k uses theta_k at X_k, alpha_{k+1} uses theta_{k+1} at X_{k+1}', (t) => {
  const h = 0.2
  const s = makeSampler(3, h)
  const e0 = new Float32Array(N)
  const g0 = new Float32Array(N * D)
  evalEnergy(TH0, s.positions, e0, g0)
  s.observe(e0, g0)
  const x = s.positions.slice()
  s.move() // with grad U_0
  const y = s.positions
  const e1 = new Float32Array(N)
  const g1 = new Float32Array(N * D)
  evalEnergy(TH1, y, e1, g1)
  s.observe(e1, g1)
  // A plausible mistake, for contrast: alpha_k evaluated with theta_{k+1} at X_k.
  const eWrong = new Float32Array(N)
  const gWrong = new Float32Array(N * D)
  evalEnergy(TH1, x, eWrong, gWrong)
  let worst = 0
  let farFromWrong = 0
  for (let i = 0; i < N; i++) {
    const a0 = alpha(e0, g0, x, y, h, i)
    const a1 = alpha(e1, g1, y, x, h, i)
    const ref = a0 - a1
    worst = Math.max(worst, Math.abs(s.logWeights[i] - ref) / tol(Math.abs(a0) + Math.abs(a1)))
    const wrong = alpha(eWrong, gWrong, x, y, h, i) - a1
    if (Math.abs(s.logWeights[i] - wrong) > 1e-3) farFromWrong++
  }
  t.true(worst <= 1, `worst error ${worst} tolerances`)
  t.true(farFromWrong > N / 2, 'the reference distinguishes the right kernel assignment from the wrong one')
  s.dispose()
})

test('several iterations with parameter and step-size changes accumulate the increments', (t) => {
  const s = makeSampler(4, 0.1)
  const thetas = [TH0, TH1, TH2, TH0, TH1]
  const hs = [0.1, 0.25, 0.05, 0.4]
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  evalEnergy(thetas[0], s.positions, e, g)
  s.observe(e, g)
  const ref = new Float64Array(N)
  const mag = new Float64Array(N)
  for (let k = 0; k < hs.length; k++) {
    s.stepSize = hs[k]
    t.is(s.stepSize, hs[k])
    const x = s.positions.slice()
    const ex = e.slice()
    const gx = g.slice()
    s.move()
    // The move used the new h: y = x - h g(x) + sqrt(2h) z, z the 'noise' stream at step k,
    // emulated in f32 exactly as the core computes it.
    const z = fillNormals(new Float32Array(N * D), { dim: D, seed: 4, stream: 'noise', step: k })
    const f = Math.fround
    const hf = f(hs[k])
    const sf = f(Math.sqrt(2 * hs[k]))
    let moved = 0
    for (let i = 0; i < N * D; i++) if (f(f(x[i] - f(hf * gx[i])) + f(sf * z[i])) === s.positions[i]) moved++
    t.is(moved, N * D, `step ${k}: positions = x - h g + sqrt(2h) z`)
    evalEnergy(thetas[k + 1], s.positions, e, g)
    s.observe(e, g)
    for (let i = 0; i < N; i++) {
      const a0 = alpha(ex, gx, x, s.positions, hs[k], i)
      const a1 = alpha(e, g, s.positions, x, hs[k], i)
      ref[i] += a0 - a1
      mag[i] += Math.abs(a0) + Math.abs(a1)
    }
  }
  t.is(s.steps, hs.length)
  let worst = 0
  for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(s.logWeights[i] - ref[i]) / tol(mag[i]))
  t.true(worst <= 1, `worst error ${worst} tolerances`)
  t.true(Math.abs(s.logNormalizerRatio() - logMeanExp(ref)) < 1e-9)
  s.dispose()
})

test('observing new parameters without a move adds the AIS increment U_old(X) - U_new(X)', (t) => {
  const h = 0.15
  const s = makeSampler(5, h)
  const e0 = new Float32Array(N)
  const g0 = new Float32Array(N * D)
  evalEnergy(TH0, s.positions, e0, g0)
  s.observe(e0, g0)
  const x = s.positions.slice()
  const e1 = new Float32Array(N)
  const g1 = new Float32Array(N * D)
  evalEnergy(TH1, x, e1, g1)
  s.observe(e1, g1)
  let worstAis = 0
  for (let i = 0; i < N; i++) {
    worstAis = Math.max(worstAis, Math.abs(s.logWeights[i] - (e0[i] - e1[i])) / tol(Math.abs(e0[i]) + Math.abs(e1[i])))
  }
  t.true(worstAis <= 1, `AIS increment: worst error ${worstAis} tolerances`)
  t.true(s.logWeights.some((a) => a !== 0))
  // Positions did not move; the next move uses grad U_1 and alpha_1, then theta_2 observes.
  assertSameBits(t, s.positions, x, 'positions after a re-observation')
  const a = s.logWeights.slice()
  s.move()
  const e2 = new Float32Array(N)
  const g2 = new Float32Array(N * D)
  evalEnergy(TH2, s.positions, e2, g2)
  s.observe(e2, g2)
  let worst = 0
  for (let i = 0; i < N; i++) {
    // The move used grad U_1: y = x - h g1 + sqrt(2h) z, so alpha_1 is the forward term.
    const a1 = alpha(e1, g1, x, s.positions, h, i)
    const a2 = alpha(e2, g2, s.positions, x, h, i)
    worst = Math.max(worst, Math.abs(s.logWeights[i] - (a[i] + a1 - a2)) / tol(Math.abs(a[i]) + Math.abs(a1) + Math.abs(a2)))
  }
  t.true(worst <= 1, `worst error ${worst} tolerances`)
  s.dispose()
})

test('weighted: false keeps A = 0 and moves the walkers exactly as the weighted sampler does', (t) => {
  const w = makeSampler(6, 0.3, true)
  const u = makeSampler(6, 0.3, false)
  t.false(u.weighted)
  t.true(w.weighted)
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  const thetas = [TH0, TH1, TH2, TH1]
  for (const [k, th] of thetas.entries()) {
    if (k > 0) {
      w.move()
      u.move()
    }
    assertSameBits(t, u.positions, w.positions, `positions at step ${k}`)
    evalEnergy(th, w.positions, e, g)
    w.observe(e, g)
    u.observe(e, g)
  }
  t.true(u.logWeights.every((a) => a === 0))
  t.true(w.logWeights.some((a) => a !== 0))
  t.is(u.ess(), N)
  t.is(u.logNormalizerRatio(), 0)
  w.dispose()
  u.dispose()
})

test('summary, ess, logNormalizerRatio and normalizedWeights agree with the log-weights', (t) => {
  const s = makeSampler(7, 0.5)
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  evalEnergy(TH0, s.positions, e, g)
  s.observe(e, g)
  for (const th of [TH1, TH2]) {
    s.move()
    evalEnergy(th, s.positions, e, g)
    s.observe(e, g)
  }
  const a = s.logWeights
  let max = -Infinity
  for (const v of a) max = Math.max(max, v)
  let sw = 0
  let sw2 = 0
  for (const v of a) {
    sw += Math.exp(v - max)
    sw2 += Math.exp(2 * (v - max))
  }
  const ess = (sw * sw) / sw2
  const sum = s.summary()
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1e-300, Math.abs(y))
  t.true(rel(sum.ess, ess) < 1e-12, `${sum.ess} vs ${ess}`)
  t.true(rel(s.ess(), ess) < 1e-12)
  t.true(rel(sum.cv2, N / ess - 1) < 1e-10)
  t.is(sum.maxLogWeight, max)
  t.is(sum.zeroWeight, 0)
  t.true(Math.abs(sum.logMeanWeight - logMeanExp(a)) < 1e-12)
  t.true(Math.abs(s.logNormalizerRatio() - logMeanExp(a)) < 1e-12)
  t.true(sum.ess < N && sum.ess > 1)
  const out = new Float64Array(N)
  const p = s.normalizedWeights(out)
  t.is(p, out)
  let total = 0
  for (let i = 0; i < N; i++) {
    total += p[i]
    t.true(rel(p[i], Math.exp(a[i] - max) / sw) < 1e-12 || p[i] === 0)
  }
  t.true(Math.abs(total - 1) < 1e-12)
  const fresh = s.normalizedWeights()
  t.not(fresh, out)
  assertSameBits(t, fresh, out, 'normalizedWeights with and without out')
  s.dispose()
})
