/**
 * Checkpoints: a run interrupted by save() + Trainer.resume() continues bit for bit as if it had
 * never stopped (Jarzynski, PCD, CD, data mini-batches, the mini-batch variant, Adam with a
 * schedule); corrupt, foreign and mismatched checkpoints are refused with ERR_JARZYN_BAD_CHECKPOINT;
 * a save that fails mid-write leaves the previous checkpoint intact and no temporary file behind.
 */
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test, { type ExecutionContext } from 'ava'

import { Trainer, type TrainerOptions } from '../ts/index'
import { readCheckpoint, writeCheckpoint } from '../ts/train/checkpoint-file'
import { throwsJarzyn } from './helpers'
import { collect, gmmTrainerOptions, smallGmm, statsWithoutTime, tempDir } from './train-helpers'
import { assertSameBits, bitsJson, sameBits } from './bits'

const G = smallGmm({ dim: 3, n: 200, means: [-4, 3], weights: [0.25, 0.75] })

/**
 * Run `total` iterations straight, and `split` + save + resume + the rest; everything but timings
 * must agree bit for bit. Returns the straight run's stats (for checks that the case exercised
 * what it is meant to).
 */
async function checkResume(t: ExecutionContext, extra: Partial<TrainerOptions>, total: number, split: number) {
  const dir = tempDir(t)
  const path = join(dir, 'run.ckpt')
  const straight = new Trainer(gmmTrainerOptions(G, extra))
  const ref = await collect(straight, total)

  const first = new Trainer(gmmTrainerOptions(G, extra))
  const head = await collect(first, split)
  first.save(path)
  first.dispose()
  const resumed = Trainer.resume(path, gmmTrainerOptions(G, extra))
  t.is(resumed.iteration, split)
  const tail = await collect(resumed, total - split)
  t.is(resumed.iteration, total)

  const got = [...head, ...tail]
  t.is(got.length, ref.length)
  for (let k = 0; k < ref.length; k++) {
    const a = bitsJson(statsWithoutTime(ref[k]))
    const b = bitsJson(statsWithoutTime(got[k]))
    if (a !== b) {
      t.deepEqual(statsWithoutTime(got[k]), statsWithoutTime(ref[k]), `iteration ${k}: stats differ`)
      t.fail(`iteration ${k}: stats differ in the bits of some number (e.g. -0 vs 0)`)
      break
    }
  }
  assertSameBits(t, resumed.energy.getParams(), straight.energy.getParams(), 'parameters')
  t.is(resumed.samplers.length, straight.samplers.length)
  straight.samplers.forEach((s, b) => {
    const r = resumed.samplers[b]
    assertSameBits(t, r.positions, s.positions, `group ${b}: positions`)
    assertSameBits(t, r.logWeights, s.logWeights, `group ${b}: log-weights`)
    assertSameBits(t, r.energies, s.energies, `group ${b}: energies`)
    assertSameBits(t, r.gradients, s.gradients, `group ${b}: gradients`)
    t.is(r.steps, s.steps)
    t.is(r.resamplings, s.resamplings)
    t.true(Object.is(r.logNormalizerRatio(), s.logNormalizerRatio()))
  })
  straight.dispose()
  resumed.dispose()
  return ref
}

test('jarzynski: 20 + save + resume + 20 iterations is bit-identical to 40 straight (with resamplings on both sides)', async (t) => {
  const ref = await checkResume(t, { method: 'jarzynski', resample: { scheme: 'systematic', essFraction: 0.98 } }, 40, 20)
  t.true(ref.slice(0, 20).some((s) => s.resampled) && ref.slice(20).some((s) => s.resampled), 'the run must resample before and after the split')
  t.true(ref.slice(20).some((s) => !s.resampled), 'and carry weights across some iterations')
})

test('pcd: resume is bit-identical', async (t) => {
  await checkResume(t, { method: 'pcd' }, 40, 20)
})

test('cd (reset every 4): resume at iteration 18, not a multiple of 4, is bit-identical', async (t) => {
  await checkResume(t, { method: 'cd', cdReset: 4, walkers: 60 }, 40, 18)
})

test('data mini-batches (dataBatch < n): the data shuffle resumes too (jarzynski and cd)', async (t) => {
  // 200 points in batches of 64: the shuffle wraps within the run (reshuffles at iterations 0, 3, 6, ...
  // at point granularity), and the split falls mid-permutation.
  await checkResume(t, { method: 'jarzynski', dataBatch: 64 }, 40, 19)
  await checkResume(t, { method: 'cd', dataBatch: 64, walkers: 60 }, 40, 18)
})

test('mini-batch variant (4 walker groups, 2 MCMC steps): resume is bit-identical (jarzynski and pcd)', async (t) => {
  const ref = await checkResume(t, { method: 'jarzynski', minibatch: { batches: 4, mcmcSteps: 2 }, resample: { essFraction: 0.97 } }, 40, 18)
  t.true(ref.slice(0, 18).some((s) => s.resampled) && ref.slice(18).some((s) => s.resampled), 'the run must resample before and after the split')
  await checkResume(t, { method: 'pcd', minibatch: { batches: 4, mcmcSteps: 2 } }, 40, 18)
})

test('Adam with a cosine schedule: the optimiser state and its step count resume', async (t) => {
  await checkResume(t, { optimizer: { type: 'adam', lr: 0.01, groups: { logWeights: 0.03 }, schedule: { type: 'cosine', iterations: 40, floor: 0.1 } } }, 40, 20)
})

test('a corrupt, truncated, foreign or missing file is refused with ERR_JARZYN_BAD_CHECKPOINT', async (t) => {
  const dir = tempDir(t)
  const good = join(dir, 'good.ckpt')
  const tr = new Trainer(gmmTrainerOptions(G))
  await collect(tr, 3)
  tr.save(good)
  tr.dispose()
  const bytes = readFileSync(good)
  const opts = () => gmmTrainerOptions(G)
  Trainer.resume(good, opts()).dispose()

  const flipped = Buffer.from(bytes)
  flipped[flipped.length >> 1] ^= 0x10
  writeFileSync(join(dir, 'flipped.ckpt'), flipped)
  let e = throwsJarzyn(t, () => Trainer.resume(join(dir, 'flipped.ckpt'), opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', 'one byte flipped')
  t.regex(String(e?.message), /checksum|corrupt/)

  // A flipped byte in the JSON header is caught by the checksum too.
  const header = Buffer.from(bytes)
  header[20] ^= 0x01
  writeFileSync(join(dir, 'header.ckpt'), header)
  throwsJarzyn(t, () => Trainer.resume(join(dir, 'header.ckpt'), opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', 'header byte flipped')

  for (const keep of [bytes.length - 1, bytes.length >> 1, 40, 10, 0]) {
    writeFileSync(join(dir, 'trunc.ckpt'), bytes)
    truncateSync(join(dir, 'trunc.ckpt'), keep)
    throwsJarzyn(t, () => Trainer.resume(join(dir, 'trunc.ckpt'), opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', `truncated to ${keep} bytes`)
  }

  writeFileSync(join(dir, 'text.ckpt'), 'this is not a checkpoint, just a long enough line of text to pass the size test\n')
  e = throwsJarzyn(t, () => Trainer.resume(join(dir, 'text.ckpt'), opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', 'a text file')
  t.regex(String(e?.message), /not a jarzyn checkpoint/)

  // A well-formed checkpoint file of something other than a trainer.
  writeCheckpoint(join(dir, 'other.ckpt'), { format: 'something-else' }, { x: new Float32Array(3) })
  e = throwsJarzyn(t, () => Trainer.resume(join(dir, 'other.ckpt'), opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', 'foreign format')
  t.regex(String(e?.message), /not a trainer checkpoint/)

  e = throwsJarzyn(t, () => Trainer.resume(join(dir, 'missing.ckpt'), opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', 'missing file')
  t.regex(String(e?.message), /cannot read/)
  throwsJarzyn(t, () => Trainer.resume(dir, opts()), Error, 'ERR_JARZYN_BAD_CHECKPOINT', 'a folder')
})

test('options that do not describe the checkpointed run are refused, naming the mismatch', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'run.ckpt')
  const tr = new Trainer(gmmTrainerOptions(G, { method: 'jarzynski' }))
  await collect(tr, 3)
  tr.save(path)
  tr.dispose()
  const other4 = smallGmm({ dim: 4, n: 200 })
  const otherData = G.data.slice()
  otherData[7] += 0.5
  const cases: [string, Partial<TrainerOptions>, RegExp][] = [
    ['walkers', { walkers: 121 }, /walkers is 120 in the checkpoint but 121/],
    ['method', { method: 'pcd' }, /method is "jarzynski" in the checkpoint but "pcd"/],
    ['dim', { energy: other4.model(), data: other4.data }, /dim is 3 in the checkpoint but 4/],
    ['data', { data: otherData }, /data \(SHA-256\)/],
    ['fewer data points', { data: G.data.subarray(0, 150 * 3) }, /data/],
    ['mini-batch groups', { minibatch: { batches: 4, mcmcSteps: 1 } }, /mini-batch groups is 1 in the checkpoint but 4/],
    ['parameter layout', { energy: smallGmm({ dim: 3, means: [-4, 0, 3], weights: [0.2, 0.3, 0.5] }).model() }, /parameter layout/],
  ]
  for (const [what, extra, re] of cases) {
    const e = throwsJarzyn(t, () => Trainer.resume(path, gmmTrainerOptions(G, extra)), Error, 'ERR_JARZYN_BAD_CHECKPOINT', what)
    t.regex(String(e?.message), re, what)
    t.true(String(e?.message).includes(path), `${what}: the message names the file`)
  }
})

test('atomic save: a write that fails mid-way keeps the previous checkpoint loadable and leaves no temporary file', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'run.ckpt')
  const tr = new Trainer(gmmTrainerOptions(G))
  await collect(tr, 5)
  tr.save(path)
  const good = readFileSync(path)
  await collect(tr, 5)
  // The compiled checkpoint module calls fs.writeSync through the module object at call time.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs')
  const original = fs.writeSync
  let calls = 0
  const boom = new Error('simulated disk failure')
  ;(fs as { writeSync: unknown }).writeSync = function (this: unknown, ...args: unknown[]) {
    if (++calls > 1) throw boom
    return (original as (...a: unknown[]) => number).apply(this, args)
  }
  let thrown: unknown
  try {
    tr.save(path)
  } catch (e) {
    thrown = e
  } finally {
    fs.writeSync = original
  }
  t.is(thrown, boom, 'the write failure propagates')
  t.true(calls >= 2, `writeSync was called ${calls} times: the patch did not take effect`)
  assertSameBits(t, readFileSync(path), good, 'the previous checkpoint')
  t.deepEqual(readdirSync(dir), ['run.ckpt'], 'a temporary file was left behind')
  const back = Trainer.resume(path, gmmTrainerOptions(G))
  t.is(back.iteration, 5)
  back.dispose()
  // And a save after the failure works and replaces the old checkpoint.
  tr.save(path)
  t.false(sameBits(readFileSync(path), good))
  t.deepEqual(readdirSync(dir), ['run.ckpt'])
  const later = Trainer.resume(path, gmmTrainerOptions(G))
  t.is(later.iteration, 10)
  later.dispose()
  tr.dispose()
  t.true(existsSync(path))
})

test('a checksum-valid checkpoint with inconsistent contents (array lengths, scalars) is refused with ERR_JARZYN_BAD_CHECKPOINT', async (t) => {
  // The checksum only proves the file is what was written: a crafted file with arrays of the wrong
  // length (which TypedArray.set would copy in part) or impossible scalars must still be refused.
  const dir = tempDir(t)
  const path = join(dir, 'run.ckpt')
  const tr = new Trainer(gmmTrainerOptions(G))
  await collect(tr, 3)
  tr.save(path)
  tr.dispose()
  const { meta, arrays } = readCheckpoint(path) as { meta: Record<string, unknown>; arrays: Record<string, Float32Array | Float64Array | Uint32Array> }
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['positions0 too short', meta, { ...arrays, positions0: arrays.positions0.slice(0, 3) }],
    ['logWeights0 too short', meta, { ...arrays, logWeights0: arrays.logWeights0.slice(0, 3) }],
    ['params too short', meta, { ...arrays, params: arrays.params.slice(0, 3) }],
    ['dataRng not a number', { ...meta, dataRng: 'zz' }, arrays],
    ['negative iteration', { ...meta, iteration: -5 }, arrays],
  ]
  for (const [label, m, a] of cases) {
    const bad = join(dir, 'crafted.ckpt')
    writeCheckpoint(bad, m, a as Record<string, Float32Array>)
    throwsJarzyn(t, () => Trainer.resume(bad, gmmTrainerOptions(G)).dispose(), Error, 'ERR_JARZYN_BAD_CHECKPOINT', label)
  }
})

test('a checkpoint refused late (bad counters, NaN parameters or log-weights) leaves the caller\'s energy as it was', async (t) => {
  const dir = tempDir(t)
  const good = join(dir, 'good.ckpt')
  const tr = new Trainer(gmmTrainerOptions(G))
  await collect(tr, 3)
  tr.save(good)
  tr.dispose()
  const { meta, arrays } = readCheckpoint(good)
  const m = meta as Record<string, unknown>
  const cases: [string, Record<string, unknown>, Record<string, Float32Array | Float64Array | Uint32Array>, RegExp][] = [
    // Passes every check in JavaScript, refused by the native sampler after the parameters are in.
    ['steps -1 in the counters', { ...m, counters: [[-1, 0, 0, 0, 1]] }, arrays, /counters/],
    ['fractional resamplings', { ...m, counters: [[3, 0.5, 0, 0, 1]] }, arrays, /counters/],
    ['a NaN parameter', m, { ...arrays, params: Float64Array.from(arrays.params as Float64Array, (v, i) => (i === 2 ? NaN : v)) }, /params.*non-finite/],
    ['an infinite Adam moment', m, { ...arrays, optV: Float64Array.from(arrays.optV as Float64Array, (v, i) => (i === 0 ? Infinity : v)) }, /optV.*non-finite/],
    ['a NaN log-weight', m, { ...arrays, logWeights0: Float64Array.from(arrays.logWeights0 as Float64Array, (v, i) => (i === 7 ? NaN : v)) }, /logWeights0.*NaN/],
  ]
  for (const [label, meta2, arrays2, why] of cases) {
    const path = join(dir, 'late.ckpt')
    writeCheckpoint(path, meta2, arrays2)
    const opts = gmmTrainerOptions(G)
    const before = opts.energy.getParams()
    const e = throwsJarzyn(t, () => Trainer.resume(path, opts), Error, 'ERR_JARZYN_BAD_CHECKPOINT', label)
    t.regex(String(e?.message), why, label)
    assertSameBits(t, opts.energy.getParams(), before, `${label}: the energy's parameters`)
    // The energy still trains from where it was.
    const fresh = new Trainer({ ...opts, seed: 5 })
    await collect(fresh, 2)
    fresh.dispose()
  }
})
