/**
 * `npm run bench`: speed of the normal generator, copy bandwidth, walker-steps per second of the
 * sampler against a bandwidth + normals model, resident memory over 10^5 steps, training steps, the
 * TensorFlow.js backends side by side, the Gaussian-mixture run, the exact backward kernels' ESS per
 * second and the GPU section.
 *
 * stdout: human-readable tables, then one JSON line with every figure (last line).
 * stderr: progress.
 *
 * Environment: BENCH_QUICK=1 runs a reduced grid (N up to 10^5) for a smoke test.
 * @module
 */
import './preflight'

import { cpus, loadavg, totalmem } from 'node:os'

import { defaultThreads } from '../ts/threads'

import { measureBandwidth, type BandwidthResult } from './bandwidth'
import { measureRss, measureTfRss, RSS_GROWTH_LIMIT, RSS_RELATIVE_LIMIT, type RssResult } from './memory'
import { measureNormals, NS_PER_NORMAL_TARGET, type NormalsResult } from './normals'
import {
  bytesPerWalkerStep,
  measureStep,
  MODEL_RATIO_TARGET,
  samplerBytes,
  type ModelInputs,
  type StepResult,
} from './sampler'
import { backwardKernelJson, backwardKernelLines, benchBackwardKernels } from './backward-kernel'
import { benchGpu, gpuLines } from './gpu'
import { benchTfBackends, tfBackendJson, tfBackendLines } from './tf-backends'
import { benchGmmRun, benchMlpStep } from './training'
import { gcAvailable, now, progress, r4, si, table } from './util'

const MEMORY_LIMIT = 2.5e9

async function main(): Promise<void> {
  const t0 = now()
  const quick = process.env.BENCH_QUICK === '1'
  const all = defaultThreads()
  const threadCounts = all > 1 ? [all, 1] : [1]
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const loadStart = loadavg()[0]
  progress(`jarzyn bench on ${cpu}, ${all} threads, node ${process.version}, load average ${loadStart.toFixed(2)}${quick ? ' (quick)' : ''}`)

  // 1. Normals, single thread.
  const normals: NormalsResult[] = [100, 2, 10].map((d) => measureNormals(d))
  const nsByDim = new Map(normals.map((r) => [r.dim, r.nsPerNormal]))

  // 2. Copy bandwidth.
  const bw: BandwidthResult[] = [...new Set([1, all])].map((t) => measureBandwidth(t))
  const bwByThreads = new Map(bw.map((b) => [b.threads, b.bytesPerSecond]))

  // 3. Sampler steps.
  const inputs: ModelInputs = {
    nsPerNormal: (d) => nsByDim.get(d) ?? Math.max(...nsByDim.values()),
    bandwidth: (t) => bwByThreads.get(t) ?? bwByThreads.get(1)!,
  }
  const Ns = quick ? [1e4, 1e5] : [1e4, 1e5, 1e6]
  const dims = [2, 10, 100]
  const steps: StepResult[] = []
  const skipped: { walkers: number; dim: number; weighted: boolean; bytes: number }[] = []
  for (const N of Ns) {
    for (const d of dims) {
      for (const threads of threadCounts) {
        for (const weighted of [true, false]) {
          const bytes = samplerBytes(N, d, weighted)
          if (bytes > MEMORY_LIMIT) {
            if (threads === threadCounts[0]) skipped.push({ walkers: N, dim: d, weighted, bytes })
            progress(`skip N=${N} d=${d} ${weighted ? 'jarzynski' : 'pcd'}: ${(bytes / 1e9).toFixed(2)} GB`)
            continue
          }
          const budget = N >= 1e6 ? 0 : N >= 1e5 ? 0.5 : 0.4
          steps.push(await measureStep(N, d, threads, weighted, inputs, budget))
        }
      }
    }
  }

  // 4. Resident memory over 10^5 steps.
  const mem = await measureRss(1000, 10, 100_000, all)
  progress('resident memory over TensorFlow.js training steps')
  const tfMem = await measureTfRss(quick ? 400 : 2000, 256, 4, quick ? 100 : 500, all)

  // 5. Training steps (issue 8): Jarzynski vs PCD with the same MLP energy and walkers, and the
  // sampler's share of a step.
  progress('training: MLP 100-128-128-1, N = 8192, Jarzynski vs PCD (TensorFlow.js)')
  const mlp = await benchMlpStep({ walkers: quick ? 1024 : 8192, dim: 100, hidden: [128, 128], iterations: quick ? 3 : 8, threads: all })

  // 5b. TensorFlow.js backends: MLP and CNN energies per backend, each in a child process.
  progress('TensorFlow.js backends: MLP and CNN energies on tensorflow (when set up), wasm, cpu; one process each')
  const tfBackends = benchTfBackends(quick)

  // 6. The paper's Gaussian-mixture run (issue 9): native energy end to end.
  const gmmIterations = quick ? 500 : 8000
  progress(`Gaussian-mixture experiment: d = 50, N = n = 10^4, ${gmmIterations} iterations per method`)
  const gmm = await benchGmmRun({ methods: ['jarzynski', 'pcd', 'cd'], iterations: gmmIterations, threads: all })

  // 6b. Exact backward kernels (issue 20): ESS per second of 'next' and 'current'.
  const kernels = benchBackwardKernels({ quick, threads: all, progress })

  // 7. GPU (issue 10): the core's CUDA benchmark when a GPU is usable, else the reason.
  progress('GPU: CUDA benchmark (skipped without a usable GPU)')
  const gpu = benchGpu(all, quick)

  // ---- Output ----
  const out: string[] = []
  out.push('')
  const loadEnd = loadavg()[0]
  out.push(`jarzyn bench: ${cpu}, ${all} threads, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`)
  out.push(
    `1-minute load average ${loadStart.toFixed(2)} before the bench, ${loadEnd.toFixed(2)} at its end (the end includes the bench's own threads)` +
      (loadStart > 0.5 ? ': other processes were running, the multi-threaded figures are affected' : ''),
  )
  out.push('')
  out.push(`Normal generator (fillNormals, 1 thread, ~10^6 normals per fill, best of ${normals[0].runs}); target <= ${NS_PER_NORMAL_TARGET} ns per normal per core`)
  out.push(
    table(
      ['dim', 'normals/s', 'ns/normal (best)', 'ns/normal (median)', 'target'],
      normals.map((r) => [
        `d = ${r.dim}`,
        si(r.normalsPerSecond),
        r.nsPerNormal.toFixed(3),
        r.nsPerNormalMedian.toFixed(3),
        r.pass ? 'PASS' : `MISS (${r.nsPerNormal.toFixed(2)} > ${NS_PER_NORMAL_TARGET})`,
      ]),
    ),
  )
  out.push('')
  out.push('Copy bandwidth (measureCopyBandwidth, 256 MiB buffer, read + write bytes counted, best of 7)')
  out.push(table(['threads', 'bytes/s'], bw.map((b) => [String(b.threads), si(b.bytesPerSecond, 'B/s')])))
  out.push('')
  out.push(
    `Sampler: one move() + observe() (zero-copy observe, energies/gradients already in the sampler's views), best of timed batches` +
      ` (median in the JSON). Model = N d t_normal(d) / T + N bytes(d) / bandwidth(T), t_normal(d) from the table above;` +
      ` bytes per walker-step: Jarzynski 28 d + 60, PCD 16 d + 28. Target: measured/model <= ${MODEL_RATIO_TARGET}.` +
      ` J/PCD = Jarzynski time / PCD time.`,
  )
  const key = (r: StepResult) => `${r.walkers}/${r.dim}/${r.threads}`
  const pcd = new Map(steps.filter((r) => !r.weighted).map((r) => [key(r), r]))
  const jOverP = (r: StepResult) => {
    const p = pcd.get(key(r))
    return r.weighted && p ? r.secondsPerIteration / p.secondsPerIteration : NaN
  }
  out.push(
    'Bytes counted per walker-step (from sampler.rs): Jarzynski move reads x, g and writes x, x_prev (16 d) + A, U read,' +
      ' forward written (20); observe reads g, x, x_prev (12 d) + U, A, forward read, A written (28) + forward <- U (12).' +
      ' PCD move reads x, g, writes x (12 d) + A (8); observe reads g (4 d) + U, A read, A written (20).' +
      ' Noise goes through a cache-resident scratch and is counted as normals time, not bytes.',
  )
  out.push(
    table(
      ['N', 'd', 'T', 'sampler', 'ms/iter', 'walker-steps/s', 'model ms (normals + bytes)', 'measured/model', 'target 1.5x', 'J/PCD'],
      steps.map((r) => [
        r.walkers.toExponential(0),
        String(r.dim),
        String(r.threads),
        r.weighted ? 'Jarzynski' : 'PCD',
        (r.secondsPerIteration * 1e3).toFixed(3),
        si(r.walkerStepsPerSecond),
        `${(r.model.seconds * 1e3).toFixed(3)} (${(r.model.normalsSeconds * 1e3).toFixed(3)} + ${(r.model.bytesSeconds * 1e3).toFixed(3)})`,
        r.ratio.toFixed(2),
        r.pass ? 'PASS' : `MISS (${r.ratio.toFixed(2)}x)`,
        r.weighted ? jOverP(r).toFixed(2) : '',
      ]),
    ),
  )
  for (const s of skipped) {
    out.push(`skipped N=${s.walkers} d=${s.dim} ${s.weighted ? 'Jarzynski' : 'PCD'}: ${(s.bytes / 1e9).toFixed(2)} GB > 2.5 GB`)
  }
  out.push('')
  out.push(
    `Resident memory (RSS after a full GC${mem.gcBeforeReadings ? '' : ': GC not available, readings are rough'}): flat = end within ` +
      `${100 * RSS_RELATIVE_LIMIT} % of start (and, for the sampler, growth < ${RSS_GROWTH_LIMIT / 1e6} MB); TF.js: live tensors unchanged`,
  )
  const memRow = (what: string, r: RssResult, extra = '') => [
    what,
    String(r.steps),
    `${(r.start / 1e6).toFixed(1)} MB`,
    `${(r.middle / 1e6).toFixed(1)} MB`,
    `${(r.end / 1e6).toFixed(1)} MB`,
    `${(r.growth / 1e6).toFixed(2)} MB (${(100 * r.relativeGrowth).toFixed(2)} %)${extra}`,
    r.pass ? 'PASS' : 'MISS',
  ]
  out.push(
    table(
      ['what', 'steps', 'start', 'middle', 'end', 'growth', 'target'],
      [
        memRow(`sampler move()+observe(), N = ${mem.walkers}, d = ${mem.dim}, ${mem.threads} threads`, mem),
        memRow(`Jarzynski training, MLP ${tfMem.dim}-32-32-1 (tfjs:${tfMem.backend}), N = ${tfMem.walkers}`, tfMem, `, tensors ${tfMem.tensorsStart} -> ${tfMem.tensorsEnd}`),
      ],
    ),
  )
  out.push('')
  const [mj] = mlp.results
  out.push(
    `Training step, MLP energy 100-128-128-1 (tfjs:${mlp.backend}), N = ${mlp.results.length ? (quick ? 1024 : 8192) : 0} walkers and data, median of alternating iterations.` +
      ` Targets: Jarzynski/PCD <= 1.02 (the paper's "negligible extra cost"); sampler share < 5 %.`,
  )
  out.push(
    table(
      ['method', 'ms/iter', 'energy (U, grad_x)', 'param grad', 'move', 'observe', 'resample', 'copy', 'sampler share'],
      mlp.results.map((r) => [
        r.method,
        r.msPerIteration.toFixed(1),
        r.timings.energy.toFixed(2),
        r.timings.paramGrad.toFixed(2),
        r.timings.move.toFixed(3),
        r.timings.observe.toFixed(3),
        r.timings.resample.toFixed(3),
        r.timings.copy.toFixed(3),
        `${(100 * r.samplerShare).toFixed(2)} % ${r.samplerShare < 0.05 ? 'PASS' : 'MISS'}`,
      ]),
    ),
  )
  out.push(`Jarzynski / PCD step time: ${mlp.ratio.toFixed(3)} ${mlp.ratio <= 1.02 ? 'PASS' : 'MISS'} (target <= 1.02)`)
  out.push('')
  out.push(...tfBackendLines(tfBackends))
  out.push('')
  out.push(
    `Gaussian-mixture experiment (d = 50, N = n = 10^4, native energy, ${all} threads): target < 15 s for the ${gmmIterations === 8000 ? 'full 8000-iteration' : 'shortened'} run of one method;` +
      ` the authors' PyTorch script took 172 ms per iteration on these machines. "energy" includes the fused weight update.`,
  )
  out.push(
    table(
      ['method', 'seconds', 'ms/iter', 'sampler ms/iter', 'energy ms/iter', 'learned weights', 'target'],
      gmm.map((r) => [
        r.method,
        r.seconds.toFixed(2),
        r.msPerIteration.toFixed(3),
        r.samplerMs.toFixed(3),
        r.energyMs.toFixed(3),
        r.weights.map((w) => w.toFixed(3)).join(', '),
        gmmIterations === 8000 ? (r.seconds < 15 ? 'PASS' : `MISS (${r.seconds.toFixed(1)} s)`) : '(quick)',
      ]),
    ),
  )
  out.push(`Speed-up over the authors' 172 ms per iteration: ${(172 / gmm[0].msPerIteration).toFixed(0)}x (Jarzynski)`)
  out.push('')
  out.push(...backwardKernelLines(kernels))
  out.push('')
  out.push(...gpuLines(gpu))
  const misses = steps.filter((r) => !r.pass)
  out.push('')
  out.push(
    `Summary: normals ${normals.filter((r) => r.dim !== 10).every((r) => r.pass) ? 'PASS' : 'MISS'}` +
      ` (d=100 ${normals[0].nsPerNormal.toFixed(2)} ns, d=2 ${normals[1].nsPerNormal.toFixed(2)} ns);` +
      ` sampler model ${steps.length - misses.length}/${steps.length} PASS` +
      (misses.length ? ` (MISS: ${misses.map((r) => `N=${r.walkers.toExponential(0)} d=${r.dim} T=${r.threads} ${r.weighted ? 'J' : 'PCD'} ${r.ratio.toFixed(2)}x`).join(', ')})` : '') +
      `; RSS sampler ${mem.pass ? 'PASS' : 'MISS'} (${(100 * mem.relativeGrowth).toFixed(2)} %), TF.js ${tfMem.pass ? 'PASS' : 'MISS'} (${(100 * tfMem.relativeGrowth).toFixed(2)} %)` +
      `; J/PCD (MLP) ${mlp.ratio.toFixed(3)}; sampler share ${(100 * mj.samplerShare).toFixed(2)} %; GMM Jarzynski ${gmm[0].seconds.toFixed(1)} s` +
      `; backward kernel 'current'/'next' ESS per second: GMM ${kernels.gmm.essPerSecondRatio.toFixed(2)}x, moving Gaussian ${kernels.gaussian.map((c) => c.essPerSecondRatio.toFixed(2)).join('/')}x; ${(now() - t0).toFixed(0)} s`,
  )
  process.stdout.write(out.join('\n') + '\n')

  const json = {
    bench: 'jarzyn',
    machine: { cpu, threads: all, memoryBytes: totalmem(), node: process.version, platform: `${process.platform}-${process.arch}` },
    loadAverage: { start: r4(loadStart), end: r4(loadEnd) },
    normals: {
      targetNsPerNormal: NS_PER_NORMAL_TARGET,
      results: normals.map((r) => ({
        dim: r.dim,
        normalsPerSecond: r4(r.normalsPerSecond),
        nsPerNormal: r4(r.nsPerNormal),
        nsPerNormalMedian: r4(r.nsPerNormalMedian),
        pass: r.pass,
      })),
    },
    copyBandwidth: bw.map((b) => ({ threads: b.threads, bytesPerSecond: r4(b.bytesPerSecond) })),
    sampler: {
      targetRatio: MODEL_RATIO_TARGET,
      bytesPerWalkerStep: { jarzynski: '28*d + 60', pcd: '16*d + 28' },
      results: steps.map((r) => ({
        walkers: r.walkers,
        dim: r.dim,
        threads: r.threads,
        sampler: r.weighted ? 'jarzynski' : 'pcd',
        secondsPerIteration: r4(r.secondsPerIteration),
        secondsPerIterationMedian: r4(r.secondsPerIterationMedian),
        walkerStepsPerSecond: r4(r.walkerStepsPerSecond),
        modelSeconds: r4(r.model.seconds),
        modelNormalsSeconds: r4(r.model.normalsSeconds),
        modelBytesSeconds: r4(r.model.bytesSeconds),
        bytes: r.walkers * bytesPerWalkerStep(r.dim, r.weighted),
        ratio: r4(r.ratio),
        ratioMedian: r4(r.ratioMedian),
        pass: r.pass,
        jarzynskiOverPcd: r.weighted ? r4(jOverP(r)) : undefined,
        iterations: r.iterations,
      })),
      skipped,
    },
    rss: {
      walkers: mem.walkers,
      dim: mem.dim,
      threads: mem.threads,
      steps: mem.steps,
      startBytes: mem.start,
      middleBytes: mem.middle,
      endBytes: mem.end,
      growthBytes: mem.growth,
      relativeGrowth: r4(mem.relativeGrowth),
      limitBytes: RSS_GROWTH_LIMIT,
      relativeLimit: RSS_RELATIVE_LIMIT,
      gcBeforeReadings: gcAvailable,
      pass: mem.pass,
    },
    rssTraining: {
      backend: tfMem.backend,
      walkers: tfMem.walkers,
      dim: tfMem.dim,
      steps: tfMem.steps,
      startBytes: tfMem.start,
      middleBytes: tfMem.middle,
      endBytes: tfMem.end,
      relativeGrowth: r4(tfMem.relativeGrowth),
      tensorsStart: tfMem.tensorsStart,
      tensorsEnd: tfMem.tensorsEnd,
      pass: tfMem.pass,
    },
    training: {
      backend: mlp.backend,
      walkers: quick ? 1024 : 8192,
      jarzynskiOverPcd: r4(mlp.ratio),
      results: mlp.results.map((r) => ({ method: r.method, msPerIteration: r4(r.msPerIteration), samplerShare: r4(r.samplerShare), timings: r.timings })),
    },
    tfBackends: tfBackendJson(tfBackends),
    gmm: gmm.map((r) => ({ ...r, seconds: r4(r.seconds), msPerIteration: r4(r.msPerIteration) })),
    backwardKernels: backwardKernelJson(kernels),
    gpu,
    seconds: r4(now() - t0),
  }
  process.stdout.write(JSON.stringify(json) + '\n')
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? e.message : String(e)
  if (/Cannot find module|Failed to load native binding|native binding/i.test(msg)) {
    process.stderr.write(`bench: the native addon is not built (${msg}). Run \`npm run build\` first.\n`)
  } else {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? msg) : msg}\n`)
  }
  process.exitCode = 1
})
