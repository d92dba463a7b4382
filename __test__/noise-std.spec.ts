/**
 * The decoupled noise of the authors' image code (`noiseStd`): moves then add noise of that
 * standard deviation instead of sqrt(2h); the weights are flagged as not exact. With the default
 * (undefined) nothing changes, bit for bit.
 */
import test from 'ava'

import { Sampler, fillNormals } from '../ts/index'
import { assertSameBits } from './bits'

const N = 20000
const base = { walkers: N, dim: 1, stepSize: 0.02, seed: 7, threads: 2 }

/** One move from x = 0 with zero gradient: the positions are the noise itself. */
function oneMove(s: Sampler): Float32Array {
  s.observe(new Float32Array(N), new Float32Array(N))
  s.move()
  return s.positions.slice()
}

test('noiseStd: moves add N(0, std^2) noise (sample variance within 5 SE), and exactWeights is false', (t) => {
  const s = new Sampler({ ...base, noiseStd: 1e-4 })
  t.is(s.noiseStd, 1e-4)
  t.false(s.exactWeights)
  const x = oneMove(s)
  let m2 = 0
  for (const v of x) m2 += v * v
  const variance = m2 / N
  const want = 1e-8
  // Var of the sample variance of N normals: 2 sigma^4 / N.
  t.true(Math.abs(variance - want) < 5 * want * Math.sqrt(2 / N), `variance ${variance} vs ${want}`)
  s.dispose()
})

test('noiseStd: the same normals as the exact sampler, scaled; null ties it back to sqrt(2h); bad values refused', (t) => {
  const exact = new Sampler(base)
  const scaled = new Sampler({ ...base, noiseStd: 0.5 })
  t.true(exact.exactWeights)
  t.is(exact.noiseStd, null)
  const a = oneMove(exact)
  const b = oneMove(scaled)
  const sf = Math.fround(Math.sqrt(2 * 0.02))
  for (let i = 0; i < 50; i++) t.true(Math.abs(b[i] / 0.5 - a[i] / sf) < 1e-5, `walker ${i}`)
  // Back to sqrt(2h) (after the pending move is observed): moves draw what the exact sampler draws.
  const x0 = fillNormals(new Float32Array(N), { dim: 1, seed: 3 })
  for (const s of [exact, scaled]) {
    s.observe(new Float32Array(N), new Float32Array(N))
    s.noiseStd = null
    s.positions.set(x0)
    s.reinitialize()
    s.observe(new Float32Array(N), new Float32Array(N))
    s.move()
  }
  assertSameBits(t, scaled.positions, exact.positions, 'positions after tying the noise back to sqrt(2h)')
  for (const v of [-1, NaN, Infinity, '1'] as unknown[]) {
    t.throws(() => (exact.noiseStd = v as number), { code: 'ERR_JARZYN_INVALID_OPTION' })
    t.throws(() => new Sampler({ ...base, noiseStd: v as number }), { code: 'ERR_JARZYN_INVALID_OPTION' })
  }
  // exact has just moved: the pending move's increment assumes the noise it drew.
  t.throws(() => (exact.noiseStd = 0.1), { code: 'ERR_JARZYN_BAD_STATE' })
  exact.dispose()
  scaled.dispose()
})

test('Trainer noiseStd: the samplers move with it, metadata says the weights are not exact, a checkpoint refuses other noise', async (t) => {
  const { Trainer } = await import('../ts/index')
  const { gmmTrainerOptions, smallGmm, tempDir, collect } = await import('./train-helpers')
  const g = smallGmm({ dim: 2, n: 100 })
  const tr = new Trainer(gmmTrainerOptions(g, { noiseStd: 0.05 }))
  t.is(tr.samplers[0].noiseStd, 0.05)
  t.like(tr.metadata(), { noiseStd: 0.05, exactWeights: false })
  await collect(tr, 3)
  const path = `${tempDir(t)}/n.ckpt`
  tr.save(path)
  tr.dispose()
  const back = Trainer.resume(path, gmmTrainerOptions(g, { noiseStd: 0.05 }))
  t.is(back.samplers[0].noiseStd, 0.05)
  back.dispose()
  t.throws(() => Trainer.resume(path, gmmTrainerOptions(g)), { code: 'ERR_JARZYN_BAD_CHECKPOINT', message: /noiseStd is 0.05 in the checkpoint but null/ })
  const exact = new Trainer(gmmTrainerOptions(g))
  t.like(exact.metadata(), { noiseStd: null, exactWeights: true })
  exact.dispose()
})

test('Trainer burnIn after explicit positions: unweighted ULA steps, then the walkers count as exact samples', async (t) => {
  const { Trainer } = await import('../ts/index')
  const { gmmTrainerOptions, smallGmm } = await import('./train-helpers')
  const g = smallGmm({ dim: 2, n: 100 })
  const start = new Float32Array(120 * 2).fill(0.5)
  const tr = new Trainer(gmmTrainerOptions(g, { init: start, burnIn: 5 }))
  t.is(tr.samplers[0].steps, 5)
  t.true(tr.samplers[0].logWeights.every((a) => a === 0), 'A = 0 after the burn-in')
  t.regex(String(tr.metadata().init), /then 5 unweighted ULA steps/)
  tr.dispose()
})
