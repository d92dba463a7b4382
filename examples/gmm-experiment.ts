// The paper's Gaussian-mixture experiment through the API (a smaller configuration by default):
//   node --import tsx examples/gmm-experiment.ts [iterations]
import { GaussianMixtureEnergy, Trainer, fillNormals } from 'jarzyn'

const iterations = Number(process.argv[2] ?? 2000)
const d = 10
const n = 4000

// Data: unit Gaussians at -10 e1 (weight 1/4) and +6 e1 (weight 3/4).
const e1 = (a: number) => [a, ...new Array<number>(d - 1).fill(0)]
const truth = new GaussianMixtureEnergy({ dim: d, means: [e1(-10), e1(6)], logWeights: [-Math.log(0.25), -Math.log(0.75)] })
const { x: data } = truth.sample(n, 7, { stratified: true })
const entropy = -truth.logDensity(data).reduce((a, b) => a + b, 0) / n

// Model: two unit Gaussians near the origin, learning means and the second log-weight.
const noise = fillNormals(new Float32Array(2 * d), { dim: d, seed: 3 })
const start = (i: number, first: number) => [first, ...Array.from(noise.subarray(i * d + 1, (i + 1) * d), (v) => 0.01 * v)]
async function main(): Promise<void> {
for (const method of ['jarzynski', 'pcd'] as const) {
  const energy = new GaussianMixtureEnergy({ dim: d, means: [start(0, -0.1), start(1, 0.1)], fixed: { logWeights: [0] } })
  const trainer = new Trainer({
    energy,
    data,
    method,
    walkers: n,
    stepSize: 0.1,
    seed: 1,
    optimizer: { type: 'sgd', lr: 5e-3, groups: { logWeights: 2.5e-2 } },
    resample: method === 'jarzynski' ? { scheme: 'systematic', essFraction: 0.5 } : false,
    dataEntropy: entropy,
  })
  let last
  for await (const stats of trainer.run({ iterations })) last = stats
  const w = energy.mixtureWeights().map((v) => v.toFixed(3))
  console.log(`${method.padEnd(9)} learned weights [${w}] (data [0.25, 0.75]), exact KL ${last?.klExact?.toFixed(3)}, estimated KL ${last?.kl?.toFixed(3) ?? '-'}`)
  trainer.dispose()
}
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
