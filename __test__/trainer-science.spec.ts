/**
 * The science of the Gaussian-mixture experiment (Carbone et al. 2023, section 4.1; method.md
 * section 6), scaled down to run in seconds: with separated modes, Jarzynski-weighted walkers learn
 * the modes' weights, PCD collapses toward the heavier mode, CD stays near its initial 1/2, and the
 * Jarzynski KL estimate tracks the exact KL. Fixed seeds; thresholds come from what the method
 * predicts (below), with margin, not from one run's printout.
 *
 * Scale: n = N = 2000, 1500 iterations, learning rates twice the paper's (2.5e-3 / 1.25e-2 were set
 * for 8000 iterations). The log-weight converges with time constant ~ 1 / (lr_z w (1 - w)) <= 250
 * iterations, so 1500 iterations leave a negligible optimisation residual.
 *
 * Jarzynski tolerance |w - w_data| < 0.03: the data side of the z-gradient is exact (stratified data,
 * separated modes: responsibilities are 0/1), so the learned weight equals the walkers' weighted
 * estimate of the mode's mass. Walkers cannot cross between separated modes; that estimate is exact
 * at theta_0 (stratified exact samples) and then errs only through resampling and the weight
 * variance: with resampling at ESS < N/2 its SE is at most sqrt(w (1 - w) / (N/2)) <= 0.0155
 * (w <= 0.6), so 0.03 is ~2 SE of a pessimistic bound (the typical error is several times smaller).
 *
 * KL estimate: estimate - exact = log Zhat - log Z (same data term). Var(log Zhat) ~ sum over
 * resampling epochs of CV^2 / N <= (R + 1) / N, i.e. SE <~ 0.04 nats for R <= 2 here; we allow
 * 0.15 nats at every recorded iteration, and require it to be < 1 % of the KL's decrease (~20 nats).
 */
import test from 'ava'

import { PAPER_GMM_CONFIG, runGmmExperiment, type GmmConfig, type GmmResult } from '../ts/experiments'

const SMALL: Partial<GmmConfig> = {
  methods: ['jarzynski', 'pcd', 'cd'],
  dataPoints: 2000,
  walkers: 2000,
  iterations: 1500,
  lrMeans: 5e-3,
  lrLogWeights: 2.5e-2,
  threads: 2,
}

async function checkMixture(t: import('ava').ExecutionContext, mixture: Partial<GmmConfig>) {
  const config: GmmConfig = { ...PAPER_GMM_CONFIG, ...SMALL, ...mixture }
  const results = await runGmmExperiment(config)
  const by = Object.fromEntries(results.map((r) => [r.method, r])) as Record<'jarzynski' | 'pcd' | 'cd', GmmResult>
  const w = config.weights
  const heavy = w[0] > w[1] ? 0 : 1
  const light = 1 - heavy
  const fmt = (r: GmmResult) => `${r.method}: weights ${r.weights.map((v) => v.toFixed(3))}, KL ${r.klExact.toFixed(3)}`
  t.log(results.map(fmt).join('; '))

  // Jarzynski learns the weights.
  const J = by.jarzynski
  J.weights.forEach((v, i) => t.true(Math.abs(v - w[i]) < 0.03, `Jarzynski weight ${i}: ${v} vs data ${w[i]}`))
  // Its means head for the modes. A mean approaches its mode roughly as 1 - exp(-lr_means w_i t):
  // after 1500 iterations at least 1 - exp(-5e-3 * 0.2 * 1500) = 78 % of the way; require half.
  J.learnedMeans.forEach((m, i) => t.true(m / config.means[i] > 0.5 && m / config.means[i] < 1.1, `Jarzynski mean ${i}: ${m} vs ${config.means[i]}`))

  // PCD collapses toward the heavier mode.
  const P = by.pcd
  const collapsed = P.weights[light] < 0.1 || P.weights[heavy] - w[heavy] > 0.15
  t.true(collapsed, `PCD weights ${P.weights} vs data ${w}: no collapse toward mode ${heavy}`)
  t.true(P.weights[heavy] > w[heavy], 'PCD errs toward the heavier mode')

  // CD is blind to the relative mass: it stays near the initial 1/2.
  by.cd.weights.forEach((v, i) => t.true(Math.abs(v - 0.5) < 0.1, `CD weight ${i}: ${v}`))

  // Learning the right weights shows in the exact KL: Jarzynski ends below PCD.
  t.true(J.klExact < P.klExact, `KL: Jarzynski ${J.klExact} vs PCD ${P.klExact}`)

  // The Jarzynski KL estimate tracks the exact KL along the run.
  const s = J.series
  const decrease = s.klExact[0] - J.klExact
  t.true(decrease > 5, `KL decreased by ${decrease} only`)
  let worst = 0
  for (let k = 0; k < s.iteration.length; k++) {
    t.true(Number.isFinite(s.klEstimate[k]), `KL estimate at iteration ${s.iteration[k]} is ${s.klEstimate[k]}`)
    worst = Math.max(worst, Math.abs(s.klEstimate[k] - s.klExact[k]))
  }
  t.true(worst < 0.15 && worst < 0.01 * decrease, `max |KL estimate - exact KL| = ${worst} (decrease ${decrease})`)
  t.true(Math.abs((J.klEstimate as number) - J.klExact) < 0.15, `final KL estimate ${J.klEstimate} vs exact ${J.klExact}`)
  t.is(P.klEstimate, null)
  t.is(by.cd.klEstimate, null)
  // The run states that its walkers started exact.
  t.regex(J.init, /exact samples/)
}

test("the paper's mixture (modes -10 e1, 6 e1; weights 1/4, 3/4) in d = 10", async (t) => {
  await checkMixture(t, { dim: 10, means: [-10, 6], weights: [0.25, 0.75] })
})

test('heavier mode first and closer modes: -8 e1, 5 e1 with weights 0.6, 0.4 in d = 5', async (t) => {
  await checkMixture(t, { dim: 5, means: [-8, 5], weights: [0.6, 0.4] })
})

test('a lighter minority in higher dimension: -6 e1, 7 e1 with weights 0.2, 0.8 in d = 20', async (t) => {
  await checkMixture(t, { dim: 20, means: [-6, 7], weights: [0.2, 0.8] })
})
