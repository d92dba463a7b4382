/**
 * Weight diagnostics (ts/diagnostics/weights.ts): ESS, the conditional ESS of an SMC step, PSIS
 * k-hat (against ArviZ's numbers, known tail indices and the edge cases), and the trainer's
 * `khat` / `cess` stats (what they measure, and that they change no bit of a run).
 */
import test from 'ava'

import {
  KHAT_GOOD,
  KHAT_UNRELIABLE,
  Trainer,
  conditionalEss,
  conditionalEssOfUpdate,
  effectiveSampleSize,
  khatThreshold,
  paretoKhat,
} from '../ts/index'
import type { IterationStats, TrainerOptions } from '../ts/index'
import { bitsJson } from './bits'
import { JsGaussianEnergy, collect, gaussianData, gmmTrainerOptions, smallGmm, statsWithoutTime } from './train-helpers'

/** mulberry32: a tiny 32-bit generator, written the same way in the Python that made ArviZ's numbers. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** log w = -k log(u + 2^-33): a Pareto tail of shape k (P(w > t) ~ t^(-1/k)). Every `deadEvery`-th is -Infinity. */
function paretoLogWeights(n: number, k: number, seed: number, deadEvery = 0): number[] {
  const r = mulberry32(seed)
  return Array.from({ length: n }, (_, i) => {
    const v = -k * Math.log(r() + 2 ** -33)
    return deadEvery && i % deadEvery === 0 ? -Infinity : v
  })
}

/** s z with z an Irwin-Hall approximation of N(0, 1) (sum of 12 uniforms - 6): log-normal weights. */
function normalLogWeights(n: number, s: number, seed: number): number[] {
  const r = mulberry32(seed)
  return Array.from({ length: n }, () => {
    let z = 0
    for (let j = 0; j < 12; j++) z += r()
    return s * (z - 6)
  })
}

// ---------------------------------------------------------------------------------------------
// k-hat

// Reference values: ArviZ 0.23.4 (numpy 2.4.6), `arviz.psislw(np.array(lw), reff=1.0)[1]`, with the
// same inputs made by the same generator in Python (the inputs' first values are checked below, so
// the two sides are known to see the same numbers).
const ARVIZ: { name: string; lw: () => number[]; head: number[]; khat: number }[] = [
  { name: 'Pareto k = 0.2, N = 1000, seed 1', lw: () => paretoLogWeights(1000, 0.2, 1), head: [0.09333816350873048, 1.1802720299353946], khat: 0.22441379963072824 },
  { name: 'Pareto k = 0.9, N = 1000, seed 2', lw: () => paretoLogWeights(1000, 0.9, 2), head: [0.27801398035454655, 1.0115414279852812], khat: 1.1197078941846463 },
  { name: 'log-normal s = 1.5, N = 4000, seed 3', lw: () => normalLogWeights(4000, 1.5, 3), head: [-2.584353417274542, 1.1202432912541553], khat: 0.385179171313979 },
  { name: 'Pareto k = 0.5, N = 2000, seed 4, every 7th -Infinity', lw: () => paretoLogWeights(2000, 0.5, 4, 7), head: [-Infinity, 0.549737511114859], khat: 0.40861486193314545 },
]

for (const c of ARVIZ) {
  test(`k-hat matches ArviZ's psislw: ${c.name}`, (t) => {
    const lw = c.lw()
    t.deepEqual(lw.slice(0, 2), c.head)
    const r = paretoKhat(lw)
    t.true(Math.abs(r.khat - c.khat) < 1e-10, `${r.khat} vs ArviZ ${c.khat}`)
    // Typed arrays, and a shift of every log-weight, give the same k-hat.
    t.true(Math.abs(paretoKhat(Float64Array.from(lw)).khat - c.khat) < 1e-10)
    t.true(Math.abs(paretoKhat(lw.map((v) => v + 700)).khat - c.khat) < 1e-9)
    t.true(Math.abs(paretoKhat(lw.map((v) => v - 1e4)).khat - c.khat) < 1e-9)
  })
}

test('k-hat recovers known tail indices within its sampling spread (w = U^-k, N = 4000, 30 seeds each)', (t) => {
  const N = 4000
  const M = Math.ceil(Math.min(N / 5, 3 * Math.sqrt(N)))
  for (const k of [0.2, 0.5, 0.9]) {
    const est: number[] = []
    for (let seed = 1; seed <= 30; seed++) {
      const r = mulberry32(seed * 7919 + Math.round(k * 100))
      const lw = new Float64Array(N)
      for (let i = 0; i < N; i++) lw[i] = -k * Math.log(1 - r())
      const fit = paretoKhat(lw)
      t.is(fit.tailLength, M)
      est.push(fit.khat)
    }
    const mean = est.reduce((a, b) => a + b, 0) / est.length
    const sd = Math.sqrt(est.reduce((a, b) => a + (b - mean) ** 2, 0) / (est.length - 1))
    const se = sd / Math.sqrt(est.length)
    // The weakly informative prior pulls each estimate towards 0.5 by (0.5 - k) 10 / (M + 10).
    const prior = (Math.abs(0.5 - k) * 10) / (M + 10)
    t.log(`k = ${k}: mean k-hat ${mean.toFixed(4)}, sd ${sd.toFixed(4)} over ${est.length} seeds (tolerance ${(3 * se + prior).toFixed(4)})`)
    t.true(Math.abs(mean - k) < 3 * se + prior, `k = ${k}: mean ${mean} sd ${sd}`)
    t.true(sd > 0.02 && sd < 0.25, `k = ${k}: spread ${sd}`)
  }
})

test('k-hat: equal weights, dead walkers, tiny and empty inputs are defined (never NaN)', (t) => {
  // Equal weights: no tail at all.
  t.deepEqual(paretoKhat(new Float64Array(1000)), { khat: -Infinity, sigma: NaN, tailLength: 0 })
  t.is(paretoKhat(new Array(50).fill(3.5)).khat, -Infinity)
  // Equal weights with dead walkers among them: still equal where alive.
  t.is(paretoKhat(Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? -Infinity : 0))).khat, -Infinity)
  // All dead, empty: nothing to fit.
  t.is(paretoKhat(new Array(100).fill(-Infinity)).khat, Infinity)
  t.is(paretoKhat([]).khat, Infinity)
  // One walker alive among 1000: fewer than 5 weights above the cutoff, unreliable.
  const one = new Array(1000).fill(-Infinity)
  one[17] = 0
  t.is(paretoKhat(one).khat, Infinity)
  // One walker far above the rest: the (M + 1)-th largest cuts it alone.
  const spike = paretoLogWeights(1000, 0.3, 9)
  spike[5] = 2000
  t.is(paretoKhat(spike).khat, Infinity)
  // N < 25: M < 5, too few to fit (as ArviZ and loo).
  t.is(paretoKhat(paretoLogWeights(20, 0.5, 3)).khat, Infinity)
  // NaN and +Infinity count as zero weights, like -Infinity.
  const nan = paretoLogWeights(1000, 0.4, 5)
  const dead = nan.slice()
  nan[3] = NaN
  nan[4] = Infinity
  dead[3] = -Infinity
  dead[4] = -Infinity
  t.is(paretoKhat(nan).khat, paretoKhat(dead).khat)
  t.false(Number.isNaN(paretoKhat(nan).khat))
  t.throws(() => paretoKhat([0, 1], { relativeEfficiency: 0 }), { instanceOf: RangeError })
})

test('k-hat: relativeEfficiency lengthens the tail as ArviZ reff', (t) => {
  const lw = paretoLogWeights(1000, 0.2, 1)
  // reff = 0.5: M = ceil(min(200, 3 sqrt(2000))) = 135 instead of 95.
  t.is(paretoKhat(lw, { relativeEfficiency: 0.5 }).tailLength, 135)
  t.is(paretoKhat(lw).tailLength, 95)
})

test('k-hat thresholds', (t) => {
  t.is(KHAT_GOOD, 0.5)
  t.is(KHAT_UNRELIABLE, 0.7)
  t.true(Math.abs(khatThreshold(100) - 0.5) < 1e-15)
  t.is(khatThreshold(1e4), 0.7)
  t.is(khatThreshold(2155), 0.7)
  t.true(khatThreshold(2154) < 0.7)
  t.is(khatThreshold(1), -Infinity)
})

// ---------------------------------------------------------------------------------------------
// ESS and CESS

/** Direct (unshifted) computations, for moderate log-weights. */
function directEss(lw: number[]): number {
  const w = lw.map(Math.exp)
  const s1 = w.reduce((a, b) => a + b, 0)
  return (s1 * s1) / w.reduce((a, b) => a + b * b, 0)
}
function directCess(lw: number[], inc: number[]): number {
  const w = lw.map(Math.exp)
  const S = w.reduce((a, b) => a + b, 0)
  const W = w.map((v) => v / S)
  const num = W.reduce((a, Wi, i) => a + Wi * Math.exp(inc[i]), 0)
  const den = W.reduce((a, Wi, i) => a + Wi * Math.exp(inc[i]) ** 2, 0)
  return (lw.length * num * num) / den
}

test('ESS: against a direct computation, shifted, with dead walkers', (t) => {
  const lw = normalLogWeights(500, 0.8, 11)
  const e = effectiveSampleSize(lw)
  t.true(Math.abs(e - directEss(lw)) < 1e-10 * e)
  t.true(Math.abs(effectiveSampleSize(lw.map((v) => v + 5000)) - e) < 1e-9 * e)
  t.is(effectiveSampleSize(new Float64Array(64)), 64)
  t.is(effectiveSampleSize([0, -Infinity, 0, 0]), 3)
  t.is(effectiveSampleSize([0, NaN, 0, Infinity]), 2)
  t.is(effectiveSampleSize([-Infinity, -Infinity]), 0)
  t.is(effectiveSampleSize([]), 0)
  t.true(Math.abs(effectiveSampleSize([0, -1000]) - 1) < 1e-15)
})

test('CESS: against a direct computation, and its limiting cases', (t) => {
  const n = 800
  const lw = normalLogWeights(n, 0.7, 21)
  const inc = normalLogWeights(n, 0.3, 22)
  const c = conditionalEss(lw, inc)
  const direct = directCess(lw, inc)
  t.true(Math.abs(c - direct) < 1e-10 * direct, `${c} vs ${direct}`)
  t.true(c > 0 && c < n)
  // The same from the log-weights before and after the step.
  const after = lw.map((v, i) => v + inc[i])
  t.true(Math.abs(conditionalEssOfUpdate(lw, after) - c) < 1e-10 * c)
  // Shift invariance in both arguments.
  t.true(Math.abs(conditionalEss(lw.map((v) => v - 800), inc.map((v) => v + 900)) - c) < 1e-9 * c)
  // Equal increments: the step changed nothing, CESS = N, whatever the weights before.
  t.true(Math.abs(conditionalEss(lw, new Array(n).fill(-3.25)) - n) < 1e-9 * n)
  t.true(Math.abs(conditionalEssOfUpdate(lw, lw.map((v) => v + 12)) - n) < 1e-9 * n)
  // Equal weights before: CESS is the ESS of the increments.
  const flat = new Array(n).fill(0)
  t.true(Math.abs(conditionalEss(flat, inc) - effectiveSampleSize(inc)) < 1e-10 * n)
  // One walker takes all the new weight: CESS = 1 (uniform W before).
  const spike = new Array(n).fill(-Infinity)
  spike[7] = 0
  t.true(Math.abs(conditionalEss(flat, spike) - 1) < 1e-12)
  // Cauchy-Schwarz: never above N.
  for (let s = 1; s <= 20; s++) t.true(conditionalEss(normalLogWeights(50, 2, s), normalLogWeights(50, 0.01, s + 100)) <= 50)
  t.throws(() => conditionalEss([0, 0], [0]), { instanceOf: RangeError })
})

test('CESS: dead walkers, no survivors, huge increments: defined, never NaN', (t) => {
  // A walker dead before the step does not count; one killed by the step loses its weight.
  const lw = [0, -Infinity, 0.5, -0.2, 0.1]
  const inc = [0.1, 5, -Infinity, 0.3, 0]
  const alive = [0, 3, 4]
  const expected = (() => {
    const W = lw.map((v) => (Number.isFinite(v) ? Math.exp(v) : 0))
    const S = W.reduce((a, b) => a + b, 0)
    let num = 0
    let den = 0
    for (const i of alive) {
      num += (W[i] / S) * Math.exp(inc[i])
      den += (W[i] / S) * Math.exp(2 * inc[i])
    }
    return (lw.length * num * num) / den
  })()
  t.true(Math.abs(conditionalEss(lw, inc) - expected) < 1e-12 * expected)
  t.is(conditionalEss([0, 0, 0], [-Infinity, -Infinity, -Infinity]), 0)
  t.is(conditionalEss([-Infinity, -Infinity], [0, 0]), 0)
  t.is(conditionalEssOfUpdate([-Infinity, 0], [-Infinity, -Infinity]), 0)
  t.is(conditionalEss([], []), 0)
  // The heaviest walker before the step loses 600 nats, the other (1000 nats lighter before) keeps
  // its weight: the products W r underflow and the log-space form answers. Exact value:
  // CESS = 2 (e^-600 + e^-1000)^2 / ((1 + e^-1000)(e^-1200 + e^-1000)) = 2 e^-200 (to 1e-87 relative).
  const got = conditionalEss([0, -1000], [-600, 0])
  t.true(Math.abs(got - 2 * Math.exp(-200)) <= 1e-12 * 2 * Math.exp(-200), `${got}`)
  t.true(Math.abs(conditionalEssOfUpdate([0, -1000], [-600, -1000]) - got) <= 1e-12 * got)
  // Answers below float64's range are 0, not NaN.
  t.is(conditionalEss([0, -900, -900], [-900, 900, 900.5]), 0)
})

// ---------------------------------------------------------------------------------------------
// The trainer's stats

const G = smallGmm({ dim: 3, n: 200, means: [-4, 3], weights: [0.25, 0.75] })

function bitsOfRun(tr: Trainer, stats: IterationStats[]): string {
  const s = tr.samplers.map((x) => [Array.from(x.positions), Array.from(x.logWeights), x.resamplings, x.logNormalizerRatio()])
  return bitsJson({ stats: stats.map(statsWithoutTime), params: Array.from(tr.energy.getParams()), s })
}

const CASES: Record<string, Partial<TrainerOptions>> = {
  // The native mixture's two-call path, resampling often.
  'native mixture': { method: 'jarzynski', resample: { scheme: 'systematic', essFraction: 0.97 } },
  'native mixture, mini-batch variant': { method: 'jarzynski', minibatch: { batches: 3, mcmcSteps: 2 }, resample: { scheme: 'residual', essFraction: 0.9 } },
}

for (const [name, extra] of Object.entries(CASES)) {
  test(`trainer diagnostics change no bit of the run: ${name}`, async (t) => {
    const runs = await Promise.all(
      [0, 1, 3].map(async (every) => {
        const tr = new Trainer(gmmTrainerOptions(G, { ...extra, diagnosticsEvery: every }))
        const stats = await collect(tr, 30)
        const out = { every, stats, bits: bitsOfRun(tr, stats), calls: tr.profiler.nativeCallsPerIteration() }
        tr.dispose()
        return out
      }),
    )
    t.true(runs[0].stats.some((s) => s.resampled), 'the run must resample')
    for (const r of runs.slice(1)) t.is(r.bits, runs[0].bits, `diagnosticsEvery ${r.every}`)
    for (const r of runs) {
      r.stats.forEach((s, k) => {
        const due = r.every > 0 && k % r.every === 0
        t.is(s.khat === null, !due, `every ${r.every}, iteration ${k}: khat ${s.khat}`)
        t.is(s.cess === null, !due)
        if (due) {
          t.false(Number.isNaN(s.khat))
          t.true((s.cess as number) >= 0 && (s.cess as number) <= 120 + 1e-9)
        }
      })
    }
    // Iteration 0: exact samples with A = 0, equal weights (the mini-batch variant's group has moved).
    if (!extra.minibatch) t.is(runs[1].stats[0].khat, -Infinity)
    t.log(`native calls per iteration, diagnosticsEvery 0 / 1 / 3: ${runs.map((r) => r.calls.toFixed(3)).join(' / ')}`)
    if (!extra.minibatch) {
      t.is(runs[0].calls, 2)
      // One more call only on the diagnosed iterations that resample.
      const resampledDiagnosed = runs[1].stats.filter((s) => s.resampled).length
      t.is(runs[1].calls, 2 + resampledDiagnosed / 30)
    }
  })
}

test('trainer diagnostics measure the weights used at the iteration and their update (JavaScript energy)', async (t) => {
  const dim = 2
  const energy = new JsGaussianEnergy(dim, [0.5, -0.5])
  const tr = new Trainer({
    energy,
    data: gaussianData(300, dim, 1.5),
    walkers: 400,
    stepSize: 0.2,
    optimizer: { type: 'sgd', lr: 0.05 },
    seed: 5,
    threads: 2,
    resample: { scheme: 'systematic', essFraction: 0.6 },
    diagnosticsEvery: 1,
  })
  const s = tr.samplers[0]
  let checkedCess = 0
  for (let k = 0; k < 25; k++) {
    const before = Float64Array.from(s.logWeights)
    const st = tr.step()
    t.is(st.khat, paretoKhat(before).khat, `iteration ${k}`)
    if (!st.resampled) {
      t.true(Math.abs((st.cess as number) - conditionalEssOfUpdate(before, s.logWeights)) <= 1e-12 * 400, `iteration ${k}`)
      checkedCess++
    }
    t.true(Number.isFinite(st.cess))
  }
  t.true(checkedCess > 5)
  t.true(tr.profiler.totals().diagnostics > 0)
  tr.dispose()
})

test('trainer diagnostics: null for PCD and CD; diagnosticsEvery is checked', async (t) => {
  for (const method of ['pcd', 'cd'] as const) {
    const tr = new Trainer(gmmTrainerOptions(G, { method, diagnosticsEvery: 1 }))
    const stats = await collect(tr, 5)
    t.true(stats.every((s) => s.khat === null && s.cess === null))
    tr.dispose()
  }
  // Default: every 10th iteration.
  const tr = new Trainer(gmmTrainerOptions(G))
  const stats = await collect(tr, 21)
  t.deepEqual(stats.flatMap((s) => (s.khat === null ? [] : [s.iteration])), [0, 10, 20])
  tr.dispose()
  for (const bad of [-1, 1.5, NaN, '2']) {
    t.throws(() => new Trainer(gmmTrainerOptions(G, { diagnosticsEvery: bad as number })), { message: /diagnosticsEvery/ })
  }
})
