/**
 * End to end: a Jarzynski Trainer with an MLP energy on wasm, 20 iterations on a tiny 2-D dataset,
 * walkers from noise with a short burn-in.
 */
import test from 'ava'

import { initTensorflow, mlpEnergy, Trainer } from '../ts/index'
import { gridArray } from './tf-helpers'

test('Trainer (jarzynski) with an MLP energy runs 20 iterations on wasm with finite stats', async (t) => {
  await initTensorflow({ backend: 'wasm' })
  // Two blobs at (+-1.5, 0).
  const n = 128
  const noise = gridArray(2 * n, 21, 0.4)
  const data = Float32Array.from(noise, (v, i) => (i % 2 === 0 ? v + (i % 4 === 0 ? 1.5 : -1.5) : v))
  const energy = mlpEnergy({ dim: 2, hidden: [16, 16], activation: 'silu', seed: 5, penalty: 0.01 })
  const trainer = new Trainer({
    energy,
    data,
    method: 'jarzynski',
    walkers: 64,
    stepSize: 0.05,
    optimizer: { type: 'adam', lr: 1e-3, betas: [0, 0.999] },
    seed: 9,
    threads: 1,
    init: 'noise',
    burnIn: 5,
  })
  try {
    t.is(trainer.metadata().energy, 'tfjs:wasm')
    const stats = []
    for await (const s of trainer.run({ iterations: 20 })) stats.push(s)
    t.is(stats.length, 20)
    for (const s of stats) {
      for (const v of [s.ess, s.logZ, s.crossEntropy, s.meanDataEnergy]) t.true(Number.isFinite(v), JSON.stringify(s))
      t.true(s.ess > 0 && s.ess <= 64)
      t.is(s.invalidWalkers, 0)
      t.true(s.timings.energy > 0 && s.timings.paramGrad > 0)
    }
    const p = energy.getParams()
    t.true(p.every(Number.isFinite))
  } finally {
    trainer.dispose()
  }
})
