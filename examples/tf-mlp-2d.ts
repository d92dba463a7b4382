// A custom TensorFlow.js MLP energy trained with Jarzynski weights on a 2-D toy dataset (a ring of
// eight Gaussians with unequal weights), with a picture of the learned density and the walkers:
//   node --import tsx examples/tf-mlp-2d.ts [iterations] [out.svg]
import { writeFileSync } from 'node:fs'

import { Trainer, initTensorflow, mlpEnergy, fillNormals } from 'jarzyn'
import { heatmapPlot } from 'jarzyn/experiments'

const iterations = Number(process.argv[2] ?? 300)
const out = process.argv[3] ?? 'tf-mlp-2d.svg'

async function main(): Promise<void> {
  const { backend } = await initTensorflow()
  // Data: 8 Gaussians on a circle of radius 2 (sd 0.15), the first four twice as likely.
  const n = 2048
  const z = fillNormals(new Float32Array(2 * n), { dim: 2, seed: 11 })
  const data = new Float32Array(2 * n)
  for (let i = 0; i < n; i++) {
    const k = i % 12 < 8 ? i % 4 : 4 + (i % 4)
    const a = (k * Math.PI) / 4
    data[2 * i] = 2 * Math.cos(a) + 0.15 * z[2 * i]
    data[2 * i + 1] = 2 * Math.sin(a) + 0.15 * z[2 * i + 1]
  }
  const energy = mlpEnergy({ dim: 2, hidden: [64, 64], activation: 'silu', seed: 1, penalty: 0.01 })
  const trainer = new Trainer({
    energy,
    data,
    walkers: 2048,
    stepSize: 0.01,
    seed: 2,
    init: 'noise',
    noiseScale: 2,
    burnIn: 50,
    dataBatch: 512,
    optimizer: { type: 'adam', lr: 3e-3, betas: [0, 0.999] },
    resample: { scheme: 'systematic', essFraction: 0.5 },
  })
  let last
  for await (const s of trainer.run({ iterations })) {
    last = s
    if (s.iteration % 100 === 0) console.log(`iteration ${s.iteration}: ESS ${s.ess.toFixed(0)}, relative CE ${s.crossEntropy?.toFixed(3)}`)
  }
  // Learned density exp(-U) on a grid, normalised by its sum for display.
  const cells = 60
  const lim = 3.2
  const grid = new Float32Array(cells * cells * 2)
  for (let r = 0; r < cells; r++) {
    for (let c = 0; c < cells; c++) {
      grid[2 * (r * cells + c)] = -lim + ((c + 0.5) * 2 * lim) / cells
      grid[2 * (r * cells + c) + 1] = -lim + ((r + 0.5) * 2 * lim) / cells
    }
  }
  const u = energy.energies(grid)
  const m = Math.min(...u)
  const dens = Float64Array.from(u, (v) => Math.exp(m - v))
  const s = trainer.samplers[0]
  const xs = Array.from({ length: s.walkers }, (_, i) => s.positions[2 * i])
  const ys = Array.from({ length: s.walkers }, (_, i) => s.positions[2 * i + 1])
  writeFileSync(
    out,
    heatmapPlot({
      title: `Learned density exp(-U) and walkers (${iterations} iterations, tfjs:${backend})`,
      xLabel: 'x[0]',
      yLabel: 'x[1]',
      values: dens,
      rows: cells,
      cols: cells,
      xRange: [-lim, lim],
      yRange: [-lim, lim],
      width: 520,
      height: 500,
      points: { x: xs, y: ys, label: 'walkers' },
    }),
  )
  console.log(`backend ${backend}; final ESS ${last?.ess.toFixed(0)}; picture: ${out}`)
  console.log(trainer.profiler.table())
  trainer.dispose()
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
