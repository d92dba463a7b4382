// The README's training script: learn a two-mode mixture with Jarzynski-weighted walkers.
//   node --import tsx examples/readme-training.ts [iterations]
import { GaussianMixtureEnergy, Trainer } from 'jarzyn'

// Data: 4000 points from unit Gaussians at (-4, 0) and (3, 0), with weights 0.2 and 0.8.
const truth = new GaussianMixtureEnergy({ dim: 2, means: [[-4, 0], [3, 0]], logWeights: [-Math.log(0.2), -Math.log(0.8)] })
const { x: data } = truth.sample(4000, 1, { stratified: true })

// Model: two unit Gaussians near the origin; learn the means and the second log-weight.
const energy = new GaussianMixtureEnergy({ dim: 2, means: [[-0.1, 0], [0.1, 0]], fixed: { logWeights: [0] } })
const trainer = new Trainer({
  energy, data, method: 'jarzynski', walkers: 4000, stepSize: 0.1, seed: 42,
  optimizer: { type: 'adam', lr: 0.05 },
  resample: { scheme: 'systematic', essFraction: 0.5 },
})

async function main(): Promise<void> {
  for await (const s of trainer.run({ iterations: Number(process.argv[2] ?? 1000) })) {
    if (s.iteration % 200 === 0) console.log(`iteration ${s.iteration}: ESS/N ${s.essFraction.toFixed(2)}, log Z ${s.logZ?.toFixed(3)} (exact ${s.logZExact?.toFixed(3)})`)
  }
  console.log('learned weights', energy.mixtureWeights().map((w) => w.toFixed(3)), '(data: 0.2, 0.8)')
  console.log(trainer.profiler.table())
  trainer.dispose()
}
main().catch((e) => { console.error(e); process.exitCode = 1 })
