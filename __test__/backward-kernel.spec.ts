/**
 * The backward kernel at theta_k (`backwardKernel: 'current'`; issue 20): the sampler's recipe
 * (move, observe at theta_k, observe at theta_{k+1} with no move) and the trainer's option.
 *
 * - The recipe's arithmetic: the two observations add exactly the MALA log-ratio at theta_k and
 *   the AIS term U_k - U_{k+1}, recomputed here in f64 from the walkers' positions.
 * - Jarzynski's equality with that kernel, statistically: on moving Gaussian schedules
 *   U_k(x) = |x - m_k|^2 / (2 s_k^2) (log Z_k = d log(s_k sqrt(2 pi)), E_k[x] = m_k), log Z_K / Z_0
 *   and weighted moments agree with the exact values within 4 standard errors computed from the
 *   run's own weights (lineage-aware with resampling, as in identity.spec.ts); and the two kernels
 *   agree with each other within 4 combined SEs.
 * - The trainer: log Z estimates of 'current' runs against the exact log Z (the native mixture,
 *   whose log Z changes by ~log 2 as it learns its weights; a JavaScript Gaussian whose log Z stays
 *   put while its mean moves), over several seeds, within 4 standard errors of the seeds' mean
 *   error; the learned mixture weights of both kernels agree within their SEs; the native mixture's
 *   fused two-call path agrees with the plain path of the same energy to round-off.
 * - Checkpoints resume bit-identically with 'current'; the kernel is in the metadata and in the
 *   checkpoint, and a mismatch is refused; invalid values are ERR_JARZYN_INVALID_OPTION.
 *
 * Seeds are fixed; every statistical assertion compares with exact values and can fail.
 */
import { join } from 'node:path'

import test, { type ExecutionContext } from 'ava'

import { Sampler, Trainer, type BackwardKernel, type Energy, type IterationStats, type ResampleScheme, type TrainerOptions } from '../ts/index'
import { readCheckpoint, writeCheckpoint } from '../ts/train/checkpoint-file'
import { assertSameBits, bitsJson } from './bits'
import { exactInit, gaussianEnergy, linearSchedule, logZSeEve, meanSe, throwsJarzyn, weightedMeanEve, type GaussianSchedule } from './helpers'
import { collect, gaussianData, gmmTrainerOptions, JsGaussianEnergy, smallGmm, statsWithoutTime, tempDir } from './train-helpers'

const Z_MAX = 4

// ---------------------------------------------------------------------------------------------
// The sampler's recipe

interface KernelRun {
  sampler: Sampler
  /** Time-0 ancestor of each walker (through the ancestors resample() returns). */
  eve: Uint32Array
  resamplings: number
}

/**
 * Run a Gaussian schedule through the public Sampler API with either backward kernel, resampling
 * (and tracking lineages) when ESS < essFraction N. 'next': move, observe U_{k+1}. 'current':
 * move, observe U_k (the MALA term), observe U_{k+1} with no move (the AIS term).
 */
function runKernel(sch: GaussianSchedule, kernel: BackwardKernel, o: { walkers: number; stepSize: number; seed: number; essFraction: number; scheme?: ResampleScheme }): KernelRun {
  const { d, K } = sch
  const n = o.walkers
  const s = new Sampler({ walkers: n, dim: d, stepSize: o.stepSize, seed: o.seed, threads: 2 })
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  const observe = (k: number) => {
    gaussianEnergy(s.positions, d, sch.mean(k), sch.sigma(k), e, g)
    s.observe(e, g)
  }
  exactInit(s, sch.mean(0), sch.sigma(0), o.seed + 1)
  observe(0)
  let eve = Uint32Array.from({ length: n }, (_, i) => i)
  for (let k = 0; k < K; k++) {
    s.move()
    if (kernel === 'current') observe(k)
    observe(k + 1)
    if (o.essFraction > 0 && s.ess() < o.essFraction * n) {
      const anc = s.resample(o.scheme ?? 'multinomial')
      eve = Uint32Array.from(anc, (a) => eve[a])
    }
  }
  return { sampler: s, eve, resamplings: s.resamplings }
}

interface Estimate {
  what: string
  estimate: number
  se: number
  exact: number
}

/** log Z_K / Z_0, E[x_j] and E|x - m_K|^2 with lineage-aware standard errors. */
function estimates(sch: GaussianSchedule, r: KernelRun): Estimate[] {
  const { d, K } = sch
  const s = r.sampler
  const p = s.normalizedWeights()
  const x = s.positions
  const mK = sch.mean(K)
  const sK = sch.sigma(K)
  const out: Estimate[] = [
    { what: 'log Z_K/Z_0', estimate: s.logNormalizerRatio(), se: logZSeEve(p, r.eve, r.resamplings), exact: d * Math.log(sK / sch.sigma(0)) },
  ]
  for (let j = 0; j < Math.min(d, 2); j++) {
    const w = weightedMeanEve(p, r.eve, (i) => x[i * d + j])
    out.push({ what: `E[x_${j}]`, estimate: w.mean, se: w.se, exact: mK[j] })
  }
  const w2 = weightedMeanEve(p, r.eve, (i) => {
    let q = 0
    for (let j = 0; j < d; j++) q += (x[i * d + j] - mK[j]) ** 2
    return q
  })
  out.push({ what: 'E|x - m_K|^2', estimate: w2.mean, se: w2.se, exact: d * sK * sK })
  return out
}

function within(t: ExecutionContext, c: Estimate, label: string): void {
  t.true(Number.isFinite(c.estimate) && c.se > 0 && Number.isFinite(c.se), `${label} ${c.what}: estimate ${c.estimate}, se ${c.se}`)
  const z = (c.estimate - c.exact) / c.se
  t.log(`${label} ${c.what}: ${c.estimate.toFixed(5)} vs ${c.exact.toFixed(5)}, se ${c.se.toExponential(2)}, z = ${z.toFixed(2)}`)
  t.true(Math.abs(z) < Z_MAX, `${label} ${c.what}: ${c.estimate} vs exact ${c.exact}, se ${c.se}, z = ${z.toFixed(2)}`)
}

test("the recipe's two observations add the MALA log-ratio at theta_k and the AIS term U_k - U_{k+1}", (t) => {
  const n = 3001
  const d = 3
  const h = 0.2
  const sch = linearSchedule(4, [0, 0, 0], [1, -0.5, 0.25], 1.3, 0.8)
  const s = new Sampler({ walkers: n, dim: d, stepSize: h, seed: 5, threads: 2 })
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  exactInit(s, sch.mean(0), sch.sigma(0), 9)
  gaussianEnergy(s.positions, d, sch.mean(0), sch.sigma(0), e, g)
  s.observe(e, g)
  // U and grad U of step k at point x, in f64 from the f32 positions.
  const U = (k: number, x: ArrayLike<number>) => {
    const m = sch.mean(k)
    const v = sch.sigma(k) ** 2
    let u = 0
    for (let j = 0; j < d; j++) u += (x[j] - m[j]) ** 2
    return u / (2 * v)
  }
  const grad = (k: number, x: ArrayLike<number>) => Array.from({ length: d }, (_, j) => (x[j] - sch.mean(k)[j]) / sch.sigma(k) ** 2)
  // alpha_k(x, y) = U_k(x) + 1/2 (y - x) . grad U_k(x) + h/4 |grad U_k(x)|^2
  const alpha = (k: number, x: ArrayLike<number>, y: ArrayLike<number>) => {
    const gx = grad(k, x)
    let dot = 0
    let g2 = 0
    for (let j = 0; j < d; j++) {
      dot += (y[j] - x[j]) * gx[j]
      g2 += gx[j] ** 2
    }
    return U(k, x) + 0.5 * dot + (h / 4) * g2
  }
  let worstMala = 0
  let worstAis = 0
  for (let k = 0; k < sch.K; k++) {
    const x0 = s.positions.slice()
    const a0 = s.logWeights.slice()
    s.move()
    const x1 = s.positions.slice()
    gaussianEnergy(s.positions, d, sch.mean(k), sch.sigma(k), e, g)
    s.observe(e, g)
    const a1 = s.logWeights.slice()
    gaussianEnergy(s.positions, d, sch.mean(k + 1), sch.sigma(k + 1), e, g)
    s.observe(e, g)
    const a2 = s.logWeights.slice()
    for (let i = 0; i < n; i++) {
      const xi = x0.subarray(i * d, (i + 1) * d)
      const yi = x1.subarray(i * d, (i + 1) * d)
      const mala = alpha(k, xi, yi) - alpha(k, yi, xi)
      const ais = U(k, yi) - U(k + 1, yi)
      worstMala = Math.max(worstMala, Math.abs(a1[i] - a0[i] - mala) / (1 + Math.abs(mala)))
      worstAis = Math.max(worstAis, Math.abs(a2[i] - a1[i] - ais) / (1 + Math.abs(ais)))
    }
  }
  t.log(`largest relative deviation: MALA term ${worstMala.toExponential(2)}, AIS term ${worstAis.toExponential(2)} (f32 energies and positions)`)
  t.true(worstMala < 1e-5, `MALA term off by ${worstMala}`)
  t.true(worstAis < 1e-5, `AIS term off by ${worstAis}`)
  s.dispose()
})

/** Schedules from slow to fast (the mean moves by |m_K - m_0| / K per step, in units of sigma). */
const SCHEDULES: { name: string; sch: GaussianSchedule; h: number }[] = [
  { name: 'd=2, K=25, mean and scale (identity.spec)', sch: linearSchedule(25, [0, 0], [0.8, -0.4], 1.2, 1.0), h: 0.1 },
  { name: 'd=2, K=25, large steps h=1.2', sch: linearSchedule(25, [0, 0], [0.8, -0.4], 1.2, 1.0), h: 1.2 },
  { name: 'd=5, K=10, fast: mean moves 0.2 sigma per step, scale shrinks', sch: linearSchedule(10, [0, 0, 0, 0, 0], [2, -1, 0, 0.5, 0], 1, 0.7), h: 0.3 },
  { name: 'd=3, K=120, slow and long, scale grows', sch: linearSchedule(120, [0, 0, 0], [0.6, 0.6, -0.6], 0.8, 1.4), h: 0.05 },
]
const N = 16384

for (const [idx, { name, sch, h }] of SCHEDULES.entries()) {
  test(`'current' recipe, ${name}: log Z and moments within 4 SE, no resampling and multinomial at ESS < 0.9 N`, (t) => {
    for (const essFraction of [0, 0.9]) {
      const r = runKernel(sch, 'current', { walkers: N, stepSize: h, seed: 1000 + 10 * idx + (essFraction > 0 ? 1 : 0), essFraction })
      const s = r.sampler
      t.is(s.steps, sch.K)
      if (essFraction > 0) t.true(r.resamplings >= 1, `resamplings ${r.resamplings}`)
      else t.true(s.ess() > N / 20, `ESS ${s.ess()}: too degenerate for the SE formulas`)
      for (const c of estimates(sch, r)) within(t, c, `${essFraction > 0 ? 'resampled' : 'weights only'}`)
      s.dispose()
    }
  })
}

test("both kernels give the same log Z and moments within 4 combined SEs (sampler, two schedules)", (t) => {
  for (const [idx, { sch, h }] of [SCHEDULES[0], SCHEDULES[2]].entries()) {
    const a = runKernel(sch, 'next', { walkers: N, stepSize: h, seed: 2000 + idx, essFraction: 0.9 })
    const b = runKernel(sch, 'current', { walkers: N, stepSize: h, seed: 2100 + idx, essFraction: 0.9 })
    const ea = estimates(sch, a)
    const eb = estimates(sch, b)
    ea.forEach((x, i) => {
      const y = eb[i]
      const z = (x.estimate - y.estimate) / Math.hypot(x.se, y.se)
      t.log(`${x.what}: next ${x.estimate.toFixed(5)} (${a.resamplings} resamplings), current ${y.estimate.toFixed(5)} (${b.resamplings}), z = ${z.toFixed(2)}`)
      t.true(Math.abs(z) < Z_MAX, `${x.what}: next ${x.estimate} +- ${x.se} vs current ${y.estimate} +- ${y.se}`)
    })
    a.sampler.dispose()
    b.sampler.dispose()
  }
})

// ---------------------------------------------------------------------------------------------
// The trainer

const G = smallGmm({ dim: 3, n: 200, means: [-4, 3], weights: [0.25, 0.75] })
/** A mixture problem that learns its weights (log Z moves by ~log 2) within 300 iterations. */
const G2 = smallGmm({ dim: 3, n: 2000, means: [-4, 3], weights: [0.25, 0.75] })
const SEEDS = [11, 12, 13, 14, 15, 16, 17, 18]

function mixtureOptions(kernel: BackwardKernel, seed: number): TrainerOptions {
  return gmmTrainerOptions(G2, {
    walkers: 2000,
    seed,
    backwardKernel: kernel,
    optimizer: { type: 'sgd', lr: 0.02, groups: { means: 0.02, logWeights: 0.1 } },
    resample: { scheme: 'systematic', essFraction: 0.5 },
    diagnosticsEvery: 0,
  })
}

/** Mean and SE over seeds of (estimate - exact) log Z at some iterations of each run. */
function logZErrors(runs: IterationStats[][], at: number[]) {
  return at.map((k) => {
    const err = runs.map((r) => (r[k].logZ as number) - (r[k].logZExact as number))
    return { k, ...meanSe(err), exactChange: (runs[0][k].logZExact as number) - (runs[0][0].logZExact as number) }
  })
}

function checkLogZ(t: ExecutionContext, runs: IterationStats[][], at: number[], label: string): void {
  for (const e of logZErrors(runs, at)) {
    t.log(`${label}, iteration ${e.k}: mean error ${e.mean.toExponential(2)} +- ${e.se.toExponential(2)} (sd ${e.sd.toExponential(2)}), exact log Z moved by ${e.exactChange.toFixed(3)}`)
    t.true(e.sd > 0 && e.sd < 0.1, `${label}, iteration ${e.k}: sd over seeds ${e.sd}`)
    t.true(Math.abs(e.mean) < Z_MAX * e.se, `${label}, iteration ${e.k}: mean error ${e.mean} vs se ${e.se}`)
  }
}

test("trainer, native mixture, 'current': log Z estimates track the exact log Z (8 seeds, 4 SE), and agree with 'next' on the learned weights", async (t) => {
  const T = 300
  const at = [30, 100, 200, T - 1]
  const runs: Record<BackwardKernel, IterationStats[][]> = { next: [], current: [] }
  const learned: Record<BackwardKernel, number[]> = { next: [], current: [] }
  for (const kernel of ['current', 'next'] as const) {
    for (const seed of SEEDS) {
      const tr = new Trainer(mixtureOptions(kernel, seed))
      t.is(tr.metadata().backwardKernel, kernel)
      runs[kernel].push(await collect(tr, T))
      learned[kernel].push((tr.energy.describe?.().mixtureWeights as number[])[0])
      tr.dispose()
    }
  }
  const change = (runs.current[0][T - 1].logZExact as number) - (runs.current[0][0].logZExact as number)
  t.true(change > 0.4, `the exact log Z must move (it moved by ${change})`)
  t.true(runs.current.every((r) => r[T - 1].resamplings > 0), 'every run resamples')
  checkLogZ(t, runs.current, at, 'current')
  checkLogZ(t, runs.next, at, 'next')
  // The same expectations: the learned weight of the -4 mode (data: 0.25) under both kernels.
  const a = meanSe(learned.next)
  const b = meanSe(learned.current)
  const z = (a.mean - b.mean) / Math.hypot(a.se, b.se)
  t.log(`weight of the -4 mode: next ${a.mean.toFixed(4)} +- ${a.se.toExponential(2)}, current ${b.mean.toFixed(4)} +- ${b.se.toExponential(2)}, z = ${z.toFixed(2)}`)
  t.true(Math.abs(z) < Z_MAX, `learned weights differ: z = ${z}`)
  t.true(Math.abs(b.mean - 0.25) < 0.05, `'current' learned weight ${b.mean} (data 0.25)`)
})

test("trainer, JavaScript Gaussian energy, 'current': log Z stays at its exact value while the mean moves (8 seeds, 4 SE)", async (t) => {
  const d = 4
  const data = gaussianData(500, d, 1.5, 7)
  const T = 150
  const runs: IterationStats[][] = []
  let evaluations = 0
  for (const seed of SEEDS) {
    const energy = new JsGaussianEnergy(d)
    const tr = new Trainer({
      energy, data, walkers: 2000, stepSize: 0.1, seed, backwardKernel: 'current', threads: 2,
      optimizer: { type: 'sgd', lr: 0.05 }, resample: { essFraction: 0.5 }, diagnosticsEvery: 0,
    })
    const before = energy.observeCalls
    runs.push(await collect(tr, T))
    evaluations = (energy.observeCalls - before) / T
    t.true(energy.getParams()[0] > 1, `the mean moved toward the data: ${energy.getParams()[0]}`)
    tr.dispose()
  }
  // One more evaluation of U and grad U per iteration than 'next'.
  t.is(evaluations, 2)
  checkLogZ(t, runs, [10, 50, 100, T - 1], 'JS Gaussian')
})

/** The native mixture without its native path: every call goes through the Energy interface. */
function withoutFusedPath(e: Energy): Energy {
  return {
    dim: e.dim,
    backend: 'test:unfused',
    parameters: () => e.parameters(),
    getParams: () => e.getParams(),
    setParams: (v) => e.setParams(v),
    evaluate: (x, u, g, p) => e.evaluate(x, u, g, p),
    surrogateGrad: (data, w, p, prof) => e.surrogateGrad(data, w, p, prof),
    energies: (x) => e.energies(x),
    logZ: () => (e.logZ as () => number)(),
    sampleInto: (out, seed) => (e.sampleInto as (o: Float32Array, s: bigint) => void)(out, seed),
    describe: () => (e.describe as () => Record<string, number | number[]>)(),
  }
}

test("trainer, native mixture, 'current': the fused two-call path agrees with the plain path of the same energy to round-off", async (t) => {
  for (const diagnosticsEvery of [0, 4]) {
    const o = () => gmmTrainerOptions(G, { backwardKernel: 'current', resample: { essFraction: 0.995 }, diagnosticsEvery })
    const fused = new Trainer(o())
    const p = o()
    const plain = new Trainer({ ...p, energy: withoutFusedPath(p.energy) })
    const a = await collect(fused, 30)
    const b = await collect(plain, 30)
    t.true(a[29].resamplings > 2, `resamplings ${a[29].resamplings}`)
    for (let k = 0; k < 30; k++) {
      t.is(a[k].resampled, b[k].resampled, `iteration ${k}: resampled`)
      t.true(Math.abs((a[k].logZ as number) - (b[k].logZ as number)) < 1e-6, `iteration ${k}: log Z ${a[k].logZ} vs ${b[k].logZ}`)
      t.true(Math.abs(a[k].ess - b[k].ess) < 1e-6 * a[k].ess, `iteration ${k}: ESS ${a[k].ess} vs ${b[k].ess}`)
      t.is(a[k].khat === null, b[k].khat === null)
      if (a[k].cess !== null) t.true(Math.abs((a[k].cess as number) - (b[k].cess as number)) < 1e-6 * (a[k].cess as number), `iteration ${k}: CESS`)
    }
    const pa = fused.energy.getParams()
    const pb = plain.energy.getParams()
    pa.forEach((v, i) => t.true(Math.abs(v - pb[i]) < 1e-6, `parameter ${i}: ${v} vs ${pb[i]}`))
    fused.dispose()
    plain.dispose()
  }
})

test("trainer, 'current': the weight diagnostics change no bit of the run (diagnosticsEvery 0, 1, 7; native and plain paths)", async (t) => {
  for (const plainPath of [false, true]) {
    const digests: string[] = []
    for (const diagnosticsEvery of [0, 1, 7]) {
      const o = gmmTrainerOptions(G, { backwardKernel: 'current', resample: { essFraction: 0.95 }, diagnosticsEvery })
      const tr = new Trainer(plainPath ? { ...o, energy: withoutFusedPath(o.energy) } : o)
      const stats = await collect(tr, 25)
      if (diagnosticsEvery === 1) {
        t.true(stats.every((s) => s.khat !== null && s.cess !== null && s.cess > 0 && s.cess <= tr.walkers * (1 + 1e-12)), 'k-hat and CESS at every iteration')
      }
      const s0 = tr.samplers[0]
      digests.push(bitsJson([stats.map(statsWithoutTime), Array.from(tr.energy.getParams()), Array.from(s0.positions), Array.from(s0.logWeights)]))
      tr.dispose()
    }
    t.is(digests[1], digests[0], `${plainPath ? 'plain' : 'native'} path: diagnosticsEvery 1`)
    t.is(digests[2], digests[0], `${plainPath ? 'plain' : 'native'} path: diagnosticsEvery 7`)
  }
})

// ---------------------------------------------------------------------------------------------
// Checkpoints, metadata, options

/** `split` iterations, save, resume, the rest: bit-identical to `total` straight. */
async function checkResume(t: ExecutionContext, make: () => TrainerOptions, total: number, split: number): Promise<IterationStats[]> {
  const path = join(tempDir(t), 'run.ckpt')
  const straight = new Trainer(make())
  const ref = await collect(straight, total)
  const first = new Trainer(make())
  const head = await collect(first, split)
  first.save(path)
  first.dispose()
  const resumed = Trainer.resume(path, make())
  const tail = await collect(resumed, total - split)
  const got = [...head, ...tail]
  for (let k = 0; k < total; k++) {
    if (bitsJson(statsWithoutTime(got[k])) !== bitsJson(statsWithoutTime(ref[k]))) {
      t.deepEqual(statsWithoutTime(got[k]), statsWithoutTime(ref[k]), `iteration ${k}`)
      t.fail(`iteration ${k}: stats differ in their bits`)
      break
    }
  }
  assertSameBits(t, resumed.energy.getParams(), straight.energy.getParams(), 'parameters')
  const [a, b] = [straight.samplers[0], resumed.samplers[0]]
  assertSameBits(t, b.positions, a.positions, 'positions')
  assertSameBits(t, b.logWeights, a.logWeights, 'log-weights')
  assertSameBits(t, b.energies, a.energies, 'energies')
  assertSameBits(t, b.gradients, a.gradients, 'gradients')
  t.is(b.steps, a.steps)
  t.is(b.resamplings, a.resamplings)
  t.true(Object.is(b.logNormalizerRatio(), a.logNormalizerRatio()))
  straight.dispose()
  resumed.dispose()
  return ref
}

test("checkpoints: 'current' runs resume bit-identically (native mixture with and without diagnostics, JavaScript energy)", async (t) => {
  const ref = await checkResume(t, () => gmmTrainerOptions(G, { backwardKernel: 'current', resample: { essFraction: 0.98 } }), 40, 20)
  t.true(ref.slice(0, 20).some((s) => s.resampled) && ref.slice(20).some((s) => s.resampled), 'resamplings on both sides of the split')
  await checkResume(t, () => gmmTrainerOptions(G, { backwardKernel: 'current', resample: { essFraction: 0.98 }, diagnosticsEvery: 3 }), 40, 19)
  const data = gaussianData(300, 3, 1, 5)
  const js = () => ({
    energy: new JsGaussianEnergy(3), data, walkers: 500, stepSize: 0.1, seed: 3, threads: 2, backwardKernel: 'current' as const,
    optimizer: { type: 'adam' as const, lr: 0.05 }, resample: { essFraction: 0.9 },
  })
  const jsRef = await checkResume(t, js, 30, 13)
  t.true(jsRef.some((s) => s.resampled), 'the JavaScript run resamples')
  // And steps were taken: one move per iteration, whatever the kernel.
  const tr = new Trainer(js())
  await collect(tr, 5)
  t.is(tr.samplers[0].steps, 5)
  tr.dispose()
})

test('the backward kernel is in the metadata and the checkpoint; a resume with another kernel is refused', async (t) => {
  const meta = (extra: Partial<TrainerOptions>) => {
    const tr = new Trainer(gmmTrainerOptions(G, extra))
    const k = tr.metadata().backwardKernel
    tr.dispose()
    return k
  }
  t.is(meta({}), 'next', "the default for full-batch Jarzynski is the paper's kernel")
  t.is(meta({ backwardKernel: 'current' }), 'current')
  t.is(meta({ backwardKernel: 'next' }), 'next')
  t.is(meta({ minibatch: { batches: 3, mcmcSteps: 2 } }), 'current', 'the mini-batch variant is of the current form')
  t.is(meta({ minibatch: { batches: 3, mcmcSteps: 2 }, backwardKernel: 'current' }), 'current')
  t.is(meta({ method: 'pcd' }), null, 'PCD has no weights')
  t.is(meta({ method: 'cd', backwardKernel: 'current' }), null, 'CD has no weights: the option does nothing')

  const dir = tempDir(t)
  const save = async (extra: Partial<TrainerOptions>, name: string) => {
    const path = join(dir, name)
    const tr = new Trainer(gmmTrainerOptions(G, extra))
    await collect(tr, 3)
    tr.save(path)
    tr.dispose()
    return path
  }
  const cur = await save({ backwardKernel: 'current' }, 'current.ckpt')
  const nxt = await save({}, 'next.ckpt')
  const t0 = readCheckpoint(cur)
  t.is((t0.meta as Record<string, unknown>).backwardKernel, 'current')
  const refuse = (path: string, extra: Partial<TrainerOptions>, re: RegExp, what: string) => {
    const e = throwsJarzyn(t, () => Trainer.resume(path, gmmTrainerOptions(G, extra)), Error, 'ERR_JARZYN_BAD_CHECKPOINT', what)
    t.regex(String(e?.message), re, what)
  }
  refuse(cur, {}, /backward kernel is "current" in the checkpoint but "next" in the options/, 'current saved, default resumed')
  refuse(cur, { backwardKernel: 'next' }, /backward kernel is "current" in the checkpoint but "next"/, 'current saved, next resumed')
  refuse(nxt, { backwardKernel: 'current' }, /backward kernel is "next" in the checkpoint but "current"/, 'next saved, current resumed')
  Trainer.resume(cur, gmmTrainerOptions(G, { backwardKernel: 'current' })).dispose()
  Trainer.resume(nxt, gmmTrainerOptions(G, { backwardKernel: 'next' })).dispose()

  // A checkpoint written before the option existed holds no kernel: its run used the paper's.
  const legacy = join(dir, 'legacy.ckpt')
  const { meta: m, arrays } = readCheckpoint(nxt)
  const { backwardKernel: _k, ...old } = m as Record<string, unknown>
  writeCheckpoint(legacy, old, arrays)
  Trainer.resume(legacy, gmmTrainerOptions(G)).dispose()
  refuse(legacy, { backwardKernel: 'current' }, /backward kernel is "next" in the checkpoint but "current"/, 'legacy checkpoint, current resumed')
  // A legacy mini-batch checkpoint was of the current form.
  const mbPath = await save({ minibatch: { batches: 2, mcmcSteps: 1 }, walkers: 120 }, 'mb.ckpt')
  const mb = readCheckpoint(mbPath)
  const { backwardKernel: _m, ...oldMb } = mb.meta as Record<string, unknown>
  writeCheckpoint(mbPath, oldMb, mb.arrays)
  Trainer.resume(mbPath, gmmTrainerOptions(G, { minibatch: { batches: 2, mcmcSteps: 1 }, walkers: 120 })).dispose()
  t.pass()
})

test('invalid backwardKernel values are ERR_JARZYN_INVALID_OPTION', (t) => {
  const cases: [unknown, typeof TypeError | typeof RangeError][] = [
    ['previous', RangeError],
    ['Next', RangeError],
    ['', RangeError],
    [1, TypeError],
    [null, TypeError],
    [true, TypeError],
    [{}, TypeError],
  ]
  for (const [v, Class] of cases) {
    for (const method of ['jarzynski', 'pcd'] as const) {
      const e = throwsJarzyn(t, () => new Trainer(gmmTrainerOptions(G, { method, backwardKernel: v as BackwardKernel })), Class, 'ERR_JARZYN_INVALID_OPTION', `${String(v)} (${method})`)
      t.regex(String(e?.message), /backwardKernel/)
    }
  }
  // The mini-batch variant has moves at fixed parameters only: 'next' cannot be honoured.
  const e = throwsJarzyn(
    t,
    () => new Trainer(gmmTrainerOptions(G, { minibatch: { batches: 3, mcmcSteps: 2 }, backwardKernel: 'next' })),
    RangeError,
    'ERR_JARZYN_INVALID_OPTION',
    "'next' with minibatch",
  )
  t.regex(String(e?.message), /mini-batch/)
})
