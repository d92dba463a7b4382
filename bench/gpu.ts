/**
 * The GPU section of `npm run bench` (issue 10): runs the core's CUDA benchmark, the `cuda_bench`
 * example program (`cargo run --release -p jarzyn-core --features cuda --example cuda_bench`), when
 * a GPU is usable, else says why it was skipped. The benchmark is a program, not part of the
 * library: on a GPU machine without Node the same command gives the same numbers.
 * @module
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { cudaStatus } from '../ts/device'

/** One move + observe measurement on the GPU. */
export interface GpuStepRow {
  walkers: number
  dim: number
  weighted: boolean
  msPerStep: number
  walkerStepsPerSecond: number
  bandwidthFraction: number
}

/** One Gaussian-mixture iteration timing, GPU and CPU. */
export interface GpuGmmRow {
  walkers: number
  data: number
  dim: number
  components: number
  gpuMsPerIteration: number
  cpuMsPerIteration: number | null
  cpuThreads: number
}

/** The GPU section's result, or why it was skipped. */
export type GpuBench =
  | { skipped: true; reason: string }
  | {
      skipped: false
      device: string
      computeCapability: string
      driverVersion: number
      copyBandwidthGBs: number
      steps: GpuStepRow[]
      gmm: GpuGmmRow[]
    }

/** Run the GPU benchmark when a GPU is usable (minutes); `quick` stops at N = 10^6. */
export function benchGpu(cpuThreads: number, quick: boolean): GpuBench {
  const st = cudaStatus()
  if (!st.available) return { skipped: true, reason: st.reason ?? 'CUDA unavailable' }
  const args = ['run', '--release', '--quiet', '-p', 'jarzyn-core', '--features', 'cuda', '--example', 'cuda_bench', '--', String(cpuThreads)]
  if (quick) args.push('--quick')
  const r = spawnSync('cargo', args, { cwd: join(__dirname, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.error) return { skipped: true, reason: `cargo is needed to run the GPU benchmark (${r.error.message})` }
  if (r.status !== 0) return { skipped: true, reason: `the GPU benchmark exited with ${r.status ?? r.signal} (its stderr is above)` }
  try {
    return { skipped: false, ...JSON.parse(r.stdout.trim().split('\n').pop() ?? '') }
  } catch (e) {
    return { skipped: true, reason: `the GPU benchmark printed no JSON: ${(e as Error).message}` }
  }
}

/** Human-readable lines for the GPU section. */
export function gpuLines(g: GpuBench): string[] {
  if (g.skipped) return [`GPU (CUDA): skipped, ${g.reason}. No GPU figure is reported.`]
  const out: string[] = []
  out.push(
    `GPU (CUDA): ${g.device} (compute ${g.computeCapability}, driver ${g.driverVersion}); device-to-device copy ${g.copyBandwidthGBs.toFixed(1)} GB/s (read + write).`,
  )
  out.push(
    'move() + observe() on the device (energies and gradients already there), bytes per walker-step: Jarzynski 28 d + 56, PCD 16 d + 28;' +
      ' fraction = those bytes per second / copy bandwidth (target >= 0.70 at N = 10^7).',
  )
  const pad = (s: string, n: number) => s.padStart(n)
  out.push(['N', 'd', 'sampler', 'ms/step', 'walker-steps/s', 'bandwidth fraction'].map((h, i) => pad(h, [8, 4, 10, 10, 15, 19][i])).join(' '))
  for (const r of g.steps) {
    const target = r.walkers >= 1e7 ? (r.bandwidthFraction >= 0.7 ? ' PASS' : ' MISS') : ''
    out.push(
      [
        pad(r.walkers.toExponential(0), 8),
        pad(String(r.dim), 4),
        pad(r.weighted ? 'Jarzynski' : 'PCD', 10),
        pad(r.msPerStep.toFixed(4), 10),
        pad(r.walkerStepsPerSecond.toExponential(3), 15),
        pad(r.bandwidthFraction.toFixed(3) + target, 19),
      ].join(' '),
    )
  }
  out.push('Gaussian-mixture iteration (d = 50, K = 2; data term, walker term, move, observe, ESS check and resampling), GPU vs CPU:')
  for (const r of g.gmm) {
    const cpu = r.cpuMsPerIteration
    out.push(
      `  N = ${r.walkers.toExponential(0)}, n = ${r.data.toExponential(0)}: GPU ${r.gpuMsPerIteration.toFixed(3)} ms, CPU (${r.cpuThreads} threads) ${cpu === null ? 'not run' : cpu.toFixed(3) + ' ms'}` +
        (cpu === null ? '' : `, GPU speed-up ${(cpu / r.gpuMsPerIteration).toFixed(1)}x`),
    )
  }
  return out
}
