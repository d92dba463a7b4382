/**
 * The TensorFlow.js Gaussian mixture against the native one, on every backend: energies, grad_x,
 * the masked surrogate gradient, mean energies, log Z and mixture weights.
 *
 * Tolerance, derived from float32 round-off (eps = 2^-23). Per point j, with r_ij =
 * -|x_j - a_i|^2 / (2 s_i^2) - z_i, R_j = max_i |r_ij| and gamma_ij = softmax_i(r_ij):
 * - each r_ij has a relative error of at most K eps with K = d + 8 (d squared differences summed,
 *   then scale, shift, exp, log); U_j = -logsumexp_i r_ij is then off by at most K eps (1 + R_j);
 * - a responsibility moves by at most 2 K eps R_j gamma_ij, so a term gamma_ij v_ij of a gradient
 *   (v = (x - a_i)/s_i^2, 1, or |x - a_i|^2 / s_i^2) is off by K eps (1 + 2 R_j) gamma_ij |v_ij|;
 * - a sum over m points in float32 adds m eps times the sum of the absolute terms.
 * So each compared value gets eps * (K (1 + 2 R) + m) * (its terms in absolute value), computed
 * here in float64. log Z and the weights are float64 on both sides from the same float32 parameters.
 */
import test from 'ava'

import { GaussianMixtureEnergy, initTensorflow, Sampler, TfGaussianMixtureEnergy } from '../ts/index'
import { BACKENDS, EPS32, gridArray } from './tf-helpers'
import { assertSameBits } from './bits'

const D = 5
const OPTIONS = {
  dim: D,
  means: [
    [1, 0, 0.5, 0, -1],
    [-2, 1, 0, 0.25, 0.5],
    [0, -1.5, 1, 1, 0],
  ],
  logWeights: [0, 0.375, -0.25],
  logScales: [0, 0.25, -0.125],
  learn: ['means', 'logWeights', 'logScales'] as ('means' | 'logWeights' | 'logScales')[],
  fixed: { logWeights: [0], means: [2] },
}
const K = OPTIONS.means.length

/** Per-point r, gamma and squared distances in float64 from the (float32) parameters. */
function pointTerms(params: Float64Array, x: Float32Array, j: number) {
  const s2 = Array.from({ length: K }, (_, i) => Math.exp(2 * params[K * D + K + i]))
  const sq = Array.from({ length: K }, (_, i) => {
    let acc = 0
    for (let c = 0; c < D; c++) acc += (x[j * D + c] - params[i * D + c]) ** 2
    return acc
  })
  const r = sq.map((v, i) => -v / (2 * s2[i]) - params[K * D + i])
  const m = Math.max(...r)
  const e = r.map((v) => Math.exp(v - m))
  const tot = e.reduce((a, b) => a + b, 0)
  return { s2, sq, gamma: e.map((v) => v / tot), R: Math.max(...r.map(Math.abs)) }
}

for (const { name, available } of BACKENDS) {
  ;(available ? test.serial : test.serial.skip)(`${name}: TfGaussianMixtureEnergy agrees with the native one to float32 round-off`, async (t) => {
    await initTensorflow({ backend: name })
    const native = new GaussianMixtureEnergy({ ...OPTIONS, threads: 1 })
    const tfg = new TfGaussianMixtureEnergy(OPTIONS)
    const nPts = 120
    const x = gridArray(nPts * D, 11, 3)
    const s = new Sampler({ walkers: nPts, dim: D, stepSize: 0.1, seed: 1, threads: 1 })
    try {
      t.is(tfg.backend, `tfjs:${name}`)
      assertSameBits(t, tfg.getParams(), native.getParams(), 'parameters')
      assertSameBits(t, tfg.learnMask, native.learnMask, 'learn mask')
      t.true(Math.abs(tfg.logZ() - native.logZ()) <= 1e-12 * Math.abs(native.logZ()))
      tfg.mixtureWeights().forEach((w, i) => t.true(Math.abs(w - native.mixtureWeights()[i]) <= 1e-12))

      const params = native.getParams()
      const ref = native.energyAndGrad(x)
      s.positions.set(x)
      s.observeEnergy(tfg)
      const kEps = (D + 8) * EPS32
      let worstU = 0
      let worstG = 0
      for (let j = 0; j < nPts; j++) {
        const { s2, gamma, R } = pointTerms(params, x, j)
        worstU = Math.max(worstU, Math.abs(s.energies[j] - ref.energy[j]) / (kEps * (1 + R)))
        for (let c = 0; c < D; c++) {
          let terms = 0
          for (let i = 0; i < K; i++) terms += (gamma[i] * Math.abs(x[j * D + c] - params[i * D + c])) / s2[i]
          worstG = Math.max(worstG, Math.abs(s.gradients[j * D + c] - ref.grad[j * D + c]) / (kEps * (1 + 2 * R) * terms + 1e-30))
        }
      }
      t.true(worstU <= 1, `U: worst ${worstU.toFixed(3)} x tolerance`)
      t.true(worstG <= 1, `grad_x: worst ${worstG.toFixed(3)} x tolerance`)
      assertSameBits(t, tfg.energies(x), s.energies, 'energies() and observe')

      // Surrogate gradient: first 70 points are data, the other 50 walkers (one dead).
      const nData = 70
      const data = x.slice(0, nData * D)
      const walkers = x.slice(nData * D)
      const p = Float64Array.from(gridArray(nPts - nData, 12), (v) => 1 + v)
      p[3] = 0
      const total = p.reduce((a, b) => a + b, 0)
      p.forEach((v, i) => (p[i] = v / total))
      const a = native.surrogateGrad(data, walkers, p)
      const b = tfg.surrogateGrad(data, walkers, p)
      const m = nPts
      const mag = new Float64Array(params.length)
      let magU = 0
      for (let j = 0; j < nPts; j++) {
        const cj = j < nData ? 1 / nData : p[j - nData]
        if (cj === 0) continue
        const { s2, sq, gamma, R } = pointTerms(params, x, j)
        const f = cj * (kEps * (1 + 2 * R) + m * EPS32)
        magU += cj * (kEps + m * EPS32) * (1 + R)
        for (let i = 0; i < K; i++) {
          for (let c = 0; c < D; c++) mag[i * D + c] += (f * gamma[i] * Math.abs(x[j * D + c] - params[i * D + c])) / s2[i]
          mag[K * D + i] += f * gamma[i]
          mag[K * D + K + i] += (f * gamma[i] * sq[i]) / s2[i]
        }
      }
      let worstP = 0
      a.grad.forEach((v, i) => {
        if (native.learnMask[i] === 0) t.is(b.grad[i], 0)
        else worstP = Math.max(worstP, Math.abs(v - b.grad[i]) / mag[i])
      })
      t.true(worstP <= 1, `surrogate gradient: worst ${worstP.toFixed(3)} x tolerance`)
      t.true(Math.abs(a.meanDataEnergy - b.meanDataEnergy) <= magU)
      t.true(Math.abs(a.meanWalkerEnergy - b.meanWalkerEnergy) <= magU)
      t.log(`worst/tolerance: U ${worstU.toFixed(3)}, grad_x ${worstG.toFixed(3)}, surrogate ${worstP.toFixed(3)}`)
    } finally {
      s.dispose()
      tfg.dispose()
    }
  })
}
