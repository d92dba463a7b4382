// Train, checkpoint, resume: the resumed run continues bit-identically.
//   node --import tsx examples/resume-checkpoint.ts
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { GaussianMixtureEnergy, Trainer, type TrainerOptions } from 'jarzyn'

const d = 4
const truth = new GaussianMixtureEnergy({ dim: d, means: [[-4, 0, 0, 0], [3, 0, 0, 0]], logWeights: [-Math.log(0.3), -Math.log(0.7)] })
const { x: data } = truth.sample(1000, 5, { stratified: true })
const options = (): TrainerOptions => ({
  energy: new GaussianMixtureEnergy({ dim: d, means: [[-0.1, 0, 0, 0], [0.1, 0, 0, 0]], fixed: { logWeights: [0] } }),
  data,
  walkers: 1000,
  stepSize: 0.1,
  seed: 9,
  optimizer: { type: 'adam', lr: 0.05 },
})

async function run(t: Trainer, iterations: number): Promise<number[]> {
  const weights: number[] = []
  for await (const s of t.run({ iterations })) weights.push((s.model?.mixtureWeights as number[])[0])
  return weights
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'jarzyn-'))
  const path = join(dir, 'run.ckpt')
  try {
    const straight = new Trainer(options())
    const all = await run(straight, 200)

    const first = new Trainer(options())
    await run(first, 100)
    first.save(path) // atomic: temporary file, fsync, rename
    first.dispose()

    const resumed = Trainer.resume(path, options())
    const rest = await run(resumed, 100)
    const same = rest.every((w, i) => Object.is(w, all[100 + i]))
    console.log(`resumed at iteration 100; weights after 200: ${rest[99].toFixed(4)} vs ${all[199].toFixed(4)}; bit-identical: ${same}`)
    if (!same) process.exitCode = 1
    straight.dispose()
    resumed.dispose()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
