/**
 * The Trainer's contract apart from the science: divergence errors that name the iteration and
 * what went non-finite, partially invalid walkers, option validation (class and code), the stats
 * of each method, the stats file, abort signals and the run's metadata.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { GaussianMixtureEnergy, Trainer, type IterationStats, type TrainerOptions } from '../ts/index'
import { throwsJarzyn } from './helpers'
import { collect, gaussianData, gmmTrainerOptions, JsGaussianEnergy, rejectsJarzyn, smallGmm, tempDir } from './train-helpers'

const G = smallGmm({ dim: 3, n: 200, means: [-4, 3], weights: [0.25, 0.75] })

/** A JS Gaussian energy with learnable mean, data centred at 2. */
function jsOptions(extra: Partial<TrainerOptions> = {}, dim = 2): TrainerOptions & { energy: JsGaussianEnergy } {
  return {
    energy: new JsGaussianEnergy(dim),
    data: gaussianData(100, dim, 2),
    walkers: 50,
    stepSize: 0.1,
    optimizer: { type: 'sgd', lr: 0.05 },
    seed: 9,
    threads: 1,
    ...extra,
  } as TrainerOptions & { energy: JsGaussianEnergy }
}

// ---------------------------------------------------------------------------------------------
// Divergence

test('every walker non-finite at iteration 5 -> ERR_JARZYN_DIVERGED naming iteration 5 and the walkers\' energies', async (t) => {
  for (const method of ['jarzynski', 'pcd'] as const) {
    const o = jsOptions({ method })
    // Observation 0 is the initialisation; iteration k observes once, as observation k + 1.
    o.energy.poison = { what: 'walkerEnergy', from: 6 }
    const tr = new Trainer(o)
    const seen: number[] = []
    const e = await rejectsJarzyn(t, async () => {
      for await (const s of tr.run({ iterations: 20 })) seen.push(s.iteration)
    }, Error, 'ERR_JARZYN_DIVERGED', method)
    t.deepEqual(seen, [0, 1, 2, 3, 4], `${method}: iterations before the failure are yielded`)
    t.regex(String(e?.message), /at iteration 5\b/)
    t.regex(String(e?.message), /every walker's energy/)
    t.is(e?.iteration, 5)
    t.regex(String(e?.what), /energy/)
    tr.dispose()
  }
})

test('all walkers non-finite at initialisation -> ERR_JARZYN_DIVERGED "during initialisation" from the constructor', (t) => {
  const o = jsOptions()
  o.energy.poison = { what: 'walkerEnergy', from: 0 }
  const e = throwsJarzyn(t, () => new Trainer(o), Error, 'ERR_JARZYN_DIVERGED', 'init')
  t.regex(String(e?.message), /during initialisation/)
})

test('non-finite data energy, parameter gradient or parameters -> ERR_JARZYN_DIVERGED naming which, at the right iteration', async (t) => {
  // The surrogate gradient is computed once per iteration, call k at iteration k.
  const data = jsOptions({}, 2)
  data.energy.poison = { what: 'dataEnergy', from: 5 }
  let e = await rejectsJarzyn(t, () => collect(new Trainer(data), 20), Error, 'ERR_JARZYN_DIVERGED', 'data energy')
  t.regex(String(e?.message), /at iteration 5: the energy of the data became non-finite/)
  t.is(e?.iteration, 5)

  const grad = jsOptions({}, 2)
  grad.energy.poison = { what: 'paramGrad', from: 7 }
  e = await rejectsJarzyn(t, () => collect(new Trainer(grad), 20), Error, 'ERR_JARZYN_DIVERGED', 'gradient')
  t.regex(String(e?.message), /at iteration 7: the parameter gradient \(entry 1\) became non-finite/)

  // Learning rate 10 for three iterations, then a step schedule multiplies it by 1e308: the
  // update overflows to infinity at iteration 3 (a finite-but-huge step would make the walker
  // energies overflow first, one iteration later).
  const params = jsOptions({ optimizer: { type: 'sgd', lr: 10, schedule: { type: 'step', every: 3, factor: 1e308 } } }, 1)
  e = await rejectsJarzyn(t, () => collect(new Trainer(params), 20), Error, 'ERR_JARZYN_DIVERGED', 'parameters')
  t.regex(String(e?.message), /at iteration 3: the parameters \(entry 0\) became non-finite/)
  t.is(e?.iteration, 3)
})

test('some walkers non-finite: counted in invalidWalkers, given zero weight, and the run continues', async (t) => {
  for (const method of ['jarzynski', 'pcd'] as const) {
    const o = jsOptions({ method, resample: method === 'jarzynski' ? false : undefined })
    o.energy.poison = { what: 'walkerEnergy', from: 6, walkers: 3, once: true }
    const tr = new Trainer(o)
    const stats = await collect(tr, 12)
    t.is(stats.length, 12, method)
    t.deepEqual(
      stats.map((s) => s.invalidWalkers),
      [0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3],
      `${method}: dead walkers stay dead (and counted) without resampling`,
    )
    const p = tr.samplers[0].normalizedWeights()
    for (let i = 0; i < 3; i++) t.is(p[i], 0, `${method}: walker ${i} has weight ${p[i]}`)
    t.true(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12)
    for (const s of stats) t.true(Number.isFinite(s.meanDataEnergy) && s.ess > 0)
    t.true(stats[11].ess <= 47 + 1e-9, `${method}: ESS ${stats[11].ess} counts dead walkers`)
    tr.dispose()
  }
  // With resampling the dead walkers are replaced at the next resampling.
  const o = jsOptions({ resample: { essFraction: 0.999 } })
  o.energy.poison = { what: 'walkerEnergy', from: 6, walkers: 3, once: true }
  const stats = await collect(new Trainer(o), 8)
  t.is(stats[5].invalidWalkers, 3)
  t.true(stats[5].resampled, 'ESS 47/50 < 0.999 N resamples')
  t.is(stats[6].invalidWalkers, 0)
})

// ---------------------------------------------------------------------------------------------
// Options

test('invalid Trainer options are rejected with the right class and code', (t) => {
  const base = () => gmmTrainerOptions(G)
  const T = TypeError
  const R = RangeError
  const bad = (label: string, o: unknown, Class: typeof Error, code: string) => throwsJarzyn(t, () => new Trainer(o as TrainerOptions), Class, code, label)
  bad('not an object', null, T, 'ERR_JARZYN_INVALID_OPTION')
  bad('unknown key', { ...base(), walker: 10 }, T, 'ERR_JARZYN_UNKNOWN_OPTION')
  bad('no energy', { ...base(), energy: undefined }, T, 'ERR_JARZYN_INVALID_OPTION')
  bad('walkers 0', { ...base(), walkers: 0 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('walkers 2.5', { ...base(), walkers: 2.5 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('walkers string', { ...base(), walkers: '10' }, T, 'ERR_JARZYN_INVALID_OPTION')
  bad('data Float64Array', { ...base(), data: Float64Array.from(G.data) }, T, 'ERR_JARZYN_BAD_ARRAY_TYPE')
  bad('data plain array', { ...base(), data: Array.from(G.data) }, T, 'ERR_JARZYN_BAD_ARRAY_TYPE')
  bad('data length not a multiple of dim', { ...base(), data: G.data.subarray(0, 31) }, R, 'ERR_JARZYN_BAD_LENGTH')
  bad('data empty', { ...base(), data: new Float32Array(0) }, R, 'ERR_JARZYN_BAD_LENGTH')
  for (const v of [NaN, Infinity, -Infinity]) {
    const d = G.data.slice()
    d[100] = v
    const e = bad(`data containing ${v}`, { ...base(), data: d }, R, 'ERR_JARZYN_INVALID_OPTION')
    t.regex(String(e?.message), /index 100/)
  }
  bad("method 'foo'", { ...base(), method: 'foo' }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('stepSize 0', { ...base(), stepSize: 0 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('stepSize -0.1', { ...base(), stepSize: -0.1 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('stepSize NaN', { ...base(), stepSize: NaN }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('seed -1', { ...base(), seed: -1 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('seed 2^64', { ...base(), seed: 1n << 64n }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('threads 0', { ...base(), threads: 0 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('resample with essFraction and cv2', { ...base(), resample: { essFraction: 0.5, cv2: 1 } }, T, 'ERR_JARZYN_INVALID_OPTION')
  bad('resample unknown key', { ...base(), resample: { threshold: 0.5 } }, T, 'ERR_JARZYN_UNKNOWN_OPTION')
  bad('resample essFraction 1.5', { ...base(), resample: { essFraction: 1.5 } }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('resample cv2 -1', { ...base(), resample: { cv2: -1 } }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('resample scheme', { ...base(), resample: { scheme: 'lottery' } }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('cdReset 0', { ...base(), method: 'cd', cdReset: 0 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('dataBatch 0', { ...base(), dataBatch: 0 }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('dataBatch > n', { ...base(), dataBatch: 201 }, R, 'ERR_JARZYN_INVALID_OPTION')
  let e = bad('minibatch: walkers not a multiple of batches', { ...base(), walkers: 120, minibatch: { batches: 7, mcmcSteps: 1 } }, R, 'ERR_JARZYN_INVALID_OPTION')
  t.regex(String(e?.message), /multiple/)
  bad('minibatch with cd', { ...base(), method: 'cd', minibatch: { batches: 4, mcmcSteps: 1 } }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('minibatch mcmcSteps 0', { ...base(), minibatch: { batches: 4, mcmcSteps: 0 } }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('minibatch unknown key', { ...base(), minibatch: { batches: 4, mcmcSteps: 1, steps: 2 } }, T, 'ERR_JARZYN_UNKNOWN_OPTION')
  bad('logZ0 NaN', { ...base(), logZ0: NaN }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('dataEntropy string', { ...base(), dataEntropy: '1' }, T, 'ERR_JARZYN_INVALID_OPTION')
  bad('init bogus', { ...base(), init: 'bogus' }, R, 'ERR_JARZYN_INVALID_OPTION')
  bad('init positions of the wrong length', { ...base(), init: new Float32Array(10) }, R, 'ERR_JARZYN_BAD_LENGTH')
  bad('optimizer unknown group', { ...base(), optimizer: { type: 'sgd', lr: 0.1, groups: { mean: 0.1 } } }, R, 'ERR_JARZYN_INVALID_OPTION')
  const noSampler = new JsGaussianEnergy(3)
  ;(noSampler as { sampleInto?: unknown }).sampleInto = undefined
  e = bad("init 'exact' with an energy that cannot sample", { ...base(), energy: noSampler, optimizer: { type: 'sgd', lr: 0.1 }, init: 'exact' }, R, 'ERR_JARZYN_INVALID_OPTION')
  t.regex(String(e?.message), /exact/)
})

test('seed: a non-integer, NaN or non-numeric seed is rejected with ERR_JARZYN_INVALID_OPTION (as Sampler does)', (t) => {
  // A string seed is a type error even when it looks numeric: '12' silently accepted would hide typos.
  for (const seed of [1.5, NaN, 'abc', '12']) {
    throwsJarzyn(t, () => new Trainer(gmmTrainerOptions(G, { seed: seed as unknown as number })), seed === 'abc' || seed === '12' ? TypeError : RangeError, 'ERR_JARZYN_INVALID_OPTION', `seed ${String(seed)}`)
  }
})

test('run() options are validated: unknown key, negative iterations', async (t) => {
  const tr = new Trainer(gmmTrainerOptions(G))
  await rejectsJarzyn(t, () => collect(tr, -1), RangeError, 'ERR_JARZYN_INVALID_OPTION', 'iterations -1')
  await rejectsJarzyn(t, async () => {
    for await (const _ of tr.run({ iterations: 2, every: 1 } as never)) void _
  }, TypeError, 'ERR_JARZYN_UNKNOWN_OPTION', 'unknown run option')
  t.is(tr.iteration, 0)
  t.deepEqual(await collect(tr, 0), [])
  tr.dispose()
})

// ---------------------------------------------------------------------------------------------
// Stats, stats file, abort, metadata

function checkCommon(t: import('ava').ExecutionContext, stats: IterationStats[], method: string, walkers: number, H: number) {
  stats.forEach((s, k) => {
    t.is(s.iteration, k)
    t.is(s.method as string, method)
    t.true(s.ess >= 0 && s.ess <= walkers * (1 + 1e-12), `ess ${s.ess}`)
    t.true(Math.abs(s.essFraction - s.ess / walkers) < 1e-15)
    t.true(Number.isFinite(s.meanDataEnergy))
    t.is(s.invalidWalkers, 0)
    t.is(typeof s.logZExact, 'number')
    t.true(Math.abs((s.crossEntropyExact as number) - ((s.logZExact as number) + s.meanDataEnergy)) < 1e-12 * Math.abs(s.crossEntropyExact as number) + 1e-12)
    t.true(Math.abs((s.klExact as number) - ((s.crossEntropyExact as number) - H)) < 1e-12 * (1 + Math.abs(H)))
    const w = s.model?.mixtureWeights as number[]
    t.true(Array.isArray(w) && w.length === 2 && Math.abs(w[0] + w[1] - 1) < 1e-12)
    for (const key of ['energy', 'paramGrad', 'move', 'observe', 'resample', 'copy', 'optimizer', 'other'] as const) t.true(s.timings[key] >= 0)
    t.true(s.elapsed >= 0 && (k === 0 || s.elapsed >= stats[k - 1].elapsed))
  })
}

test('stats: jarzynski reports ESS, log Z, cross-entropy and KL; pcd/cd report null estimates and full ESS', async (t) => {
  const H = 4.2
  const j = new Trainer(gmmTrainerOptions(G, { dataEntropy: H, resample: { essFraction: 0.98 } }))
  const js = await collect(j, 25)
  checkCommon(t, js, 'jarzynski', 120, H)
  // At iteration 0 the walkers are exact samples of theta_0 with A = 0: log Zhat is log Z_0 exactly.
  t.true(Object.is(js[0].logZ, js[0].logZExact), `${js[0].logZ} vs ${js[0].logZExact}`)
  let resamplings = 0
  for (const s of js) {
    resamplings += s.resampled ? 1 : 0
    t.is(s.resamplings, resamplings)
    t.true(Math.abs((s.crossEntropy as number) - ((s.logZ as number) + s.meanDataEnergy)) < 1e-12 * Math.abs(s.crossEntropy as number))
    t.true(Math.abs((s.kl as number) - ((s.crossEntropy as number) - H)) < 1e-12 * (1 + H))
    // Over 25 small steps the estimate tracks the exact value closely.
    t.true(Math.abs((s.logZ as number) - (s.logZExact as number)) < 0.05, `iteration ${s.iteration}: log Z ${s.logZ} vs ${s.logZExact}`)
  }
  t.true(resamplings > 0 && js.some((s) => s.essFraction < 0.999))
  // Without dataEntropy: no KL.
  const noH = await collect(new Trainer(gmmTrainerOptions(G)), 2)
  t.is(noH[1].kl, null)
  t.is(noH[1].klExact, null)
  t.is(typeof noH[1].crossEntropy, 'number')

  for (const method of ['pcd', 'cd'] as const) {
    const tr = new Trainer(gmmTrainerOptions(G, { method, dataEntropy: H }))
    const st = await collect(tr, 6)
    checkCommon(t, st, method, 120, H)
    for (const s of st) {
      t.is(s.logZ, null)
      t.is(s.crossEntropy, null)
      t.is(s.kl, null)
      t.is(typeof s.klExact, 'number')
      t.true(Math.abs(s.ess - 120) < 1e-9, `${method}: unweighted walkers, ESS ${s.ess}`)
      t.false(s.resampled)
      t.is(s.resamplings, 0)
    }
    tr.dispose()
  }
})

test('statsFile: one valid JSON line per iteration, equal to the yielded stats; appended across runs', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'stats.jsonl')
  const tr = new Trainer(gmmTrainerOptions(G, { statsFile: file, dataEntropy: 1 }))
  const stats = await collect(tr, 7)
  let lines = readFileSync(file, 'utf8').split('\n')
  t.is(lines.pop(), '', 'the file ends with a newline')
  t.is(lines.length, 7)
  lines.forEach((l, k) => t.deepEqual(JSON.parse(l), JSON.parse(JSON.stringify(stats[k]))))
  await collect(tr, 3)
  lines = readFileSync(file, 'utf8').trimEnd().split('\n')
  t.deepEqual(lines.map((l) => JSON.parse(l).iteration), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  tr.dispose()
})

test('signal: aborting stops the run after the current iteration; an aborted signal runs nothing', async (t) => {
  const tr = new Trainer(gmmTrainerOptions(G))
  const ac = new AbortController()
  const seen: number[] = []
  for await (const s of tr.run({ iterations: 50, signal: ac.signal })) {
    seen.push(s.iteration)
    if (s.iteration === 3) ac.abort()
  }
  t.deepEqual(seen, [0, 1, 2, 3])
  t.is(tr.iteration, 4)
  t.deepEqual(await collect(tr, 10, AbortSignal.abort()), [])
  t.is(tr.iteration, 4)
  // A later run continues where it stopped.
  t.deepEqual((await collect(tr, 2)).map((s) => s.iteration), [4, 5])
  tr.dispose()
})

test('metadata() states the walker initialisation and the run settings', (t) => {
  const exact = new Trainer(gmmTrainerOptions(G))
  const m = exact.metadata()
  t.regex(String(m.init), /exact samples/)
  t.like(m, { method: 'jarzynski', walkers: 120, dim: 3, stepSize: 0.1, seed: '1234', threads: 2, energy: 'native-gmm', dataPoints: 200, dataBatch: null, minibatch: null, cdReset: null, logZ0Known: true })
  t.deepEqual(m.resample, { scheme: 'systematic', essFraction: 0.5 })
  t.is(m.logZ0, (exact.energy as GaussianMixtureEnergy).logZ())
  t.is(m.init, exact.initDescription)
  exact.dispose()

  const pcd = new Trainer(gmmTrainerOptions(G, { method: 'pcd' }))
  t.regex(String(pcd.metadata().init), /data points/)
  t.is(pcd.metadata().resample, null)
  pcd.dispose()
  const cd = new Trainer(gmmTrainerOptions(G, { method: 'cd', cdReset: 6 }))
  t.is(cd.metadata().cdReset, 6)
  cd.dispose()
  t.deepEqual(new Trainer(gmmTrainerOptions(G, { resample: { cv2: 1 } })).metadata().resample, { scheme: 'systematic', essFraction: 0.5 })

  // An energy that cannot sample itself: the Jarzynski default is noise + burn-in, stated as approximate.
  const noSampler = new JsGaussianEnergy(2)
  ;(noSampler as { sampleInto?: unknown }).sampleInto = undefined
  const noise = new Trainer(jsOptions({ energy: noSampler, burnIn: 5, noiseScale: 2 }))
  t.regex(noise.initDescription, /noise \(scale 2\) then 5 unweighted ULA steps/)
  t.regex(noise.initDescription, /approximate/)
  t.like(noise.metadata(), { energy: 'js-test', logZ0Known: true })
  const given = new Trainer(gmmTrainerOptions(G, { init: new Float32Array(120 * 3).fill(0.5) }))
  t.regex(given.initDescription, /given by the caller/)
  t.true(given.samplers[0].positions.every((v) => v === 0.5))
  given.dispose()
})
