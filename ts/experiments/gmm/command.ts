/**
 * `jarzyn gmm`: the paper's Gaussian-mixture experiment from the command line.
 * @module
 */
import { parseArgs } from 'node:util'

import { CUDA_AUTO_MIN_ELEMENTS, DEVICES, type SamplerDevice } from '../../device'
import { RESAMPLE_SCHEMES, type ResampleScheme } from '../../sampler'
import type { Method } from '../../train/options'
import { ensureWritableDir, envIterations, numberArg as num, resampleArg, withLive } from '../cli/args'
import { Progress } from '../cli/progress'
import { METHOD_LABEL as LABEL } from '../method-label'
import { UsageError } from '../cli/usage'
import { PAPER_GMM_CONFIG, runGmmExperiment, validateGmmConfig, type GmmConfig, type GmmResult } from './experiment'
import { writeGmmReport } from './report'

export const GMM_HELP = `Usage: jarzyn gmm [options]

Reproduce the Gaussian-mixture experiment of Carbone et al. (NeurIPS 2023): learn the weights of a
two-mode mixture with Jarzynski-weighted walkers, PCD and CD.

Presets (--preset; any option given explicitly overrides its preset value):
  jarzyn   (default) the paper's configuration (data, model, walkers, step size, learning rates,
           iterations, CD schedule) with one change: resampling is systematic when ESS/N < 0.5.
           That trigger is the authors' CV^2 > 1 (ESS/N = 1/(1 + CV^2)); systematic resampling
           has lower variance than multinomial and is what the follow-up paper recommends.
  paper    the authors' script exactly: multinomial resampling when CV^2 > 1 (the largest
           threshold of their sweep 0.1 ... 1), i.e. --resample multinomial:cv2=1.

Options:
  --preset P          jarzyn | paper                        (default jarzyn)
  --method M          jarzynski | pcd | cd | all           (default jarzynski)
  --dim D             dimension                             (default 50)
  --means LIST        data mode positions on the first axis (default -10,6)
  --weights LIST      data mode weights, summing to 1       (default 0.25,0.75)
  --data N            data points                           (default 10000)
  --walkers N         walkers                               (default 10000)
  --iterations N      training iterations                   (default 8000, or $JARZYN_GMM_ITERATIONS)
  --step-size H       ULA step size                         (default 0.1)
  --lr-means R        learning rate of the means            (default 2.5e-3)
  --lr-logweights R   learning rate of the log-weights      (default 1.25e-2)
  --cd-lr-factor F    CD learning-rate multiplier           (default 10, as the paper)
  --resample SPEC     SCHEME[:ESS_FRACTION] | SCHEME:cv2=C | off   (default: the preset's)
                      schemes: ${RESAMPLE_SCHEMES.join(', ')}
  --cd-reset K        CD: reset walkers to data every K iterations (default 4)
  --seed S            seed                                  (default 1)
  --threads T         threads; results do not depend on it  (default: CPUs)
  --device D          cpu | cuda | auto: where the walkers run (default cpu).
                      cuda falls back to the CPU with a warning when CUDA cannot run
                      (no NVIDIA driver for CUDA 12.2+, no GPU, no NVRTC); auto picks
                      CUDA when available and walkers x dim >= ${CUDA_AUTO_MIN_ELEMENTS}
  --out DIR           write a report: plots (SVG), report.html, series.json/.csv, results.json
                      (checked to be writable before the run starts)
  --live              watch the run in a browser: serve a live page on 127.0.0.1 (a free
                      port; 'live: http://127.0.0.1:PORT/' is printed on stderr) with ESS/N,
                      CESS/N, k-hat, log Z, the mixture weights of each method and the walkers
                      over the learned density, updated as the run goes; it stops with the run
  --live-keep         as --live, and keep serving the final state after the run until Ctrl-C
  --json              print one JSON object per method on stdout
  --quiet             no progress display
  -h, --help          this help

Environment:
  JARZYN_GMM_ITERATIONS   default of --iterations (e.g. 300 for a quick look at the README's command)

Exit codes: 0 done, 1 a run-time error (printed with its ERR_JARZYN_* code), 2 a usage error.
`

/** The presets of `jarzyn gmm --preset`: what differs from {@link PAPER_GMM_CONFIG}. */
export const GMM_PRESETS = {
  jarzyn: { resample: { scheme: 'systematic', essFraction: 0.5 } },
  paper: { resample: { scheme: 'multinomial', essFraction: 0.5 } },
} as const satisfies Record<string, Partial<GmmConfig>>

/** A name of {@link GMM_PRESETS}. */
export type GmmPreset = keyof typeof GMM_PRESETS


function list(name: string, v: string | undefined, fallback: number[]): number[] {
  if (v === undefined) return fallback
  const parts = v.split(',').map((s) => s.trim())
  const xs = parts.map(Number)
  if (parts.some((p) => p === '') || xs.some((x) => !Number.isFinite(x))) throw new UsageError(`${name} expects a comma-separated list of numbers, got '${v}'`)
  return xs
}

/**
 * `--means -10,6` and `--step-size -0.1` read naturally but parseArgs takes a value starting with
 * '-' for an option: join `--opt` with a following negative number into `--opt=value`.
 */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = argv[i + 1]
    if (/^--[a-z-]+$/.test(a) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`)
      i++
    } else {
      out.push(a)
    }
  }
  return out
}

/** The options that take a value: read as strings, then checked by {@link parseGmmArgs}. */
const VALUE_OPTIONS = [
  'preset', 'method', 'dim', 'means', 'weights', 'data', 'walkers', 'iterations', 'step-size', 'lr-means', 'lr-logweights',
  'cd-lr-factor', 'resample', 'cd-reset', 'seed', 'threads', 'device', 'out',
] as const

const PARSE_OPTIONS = {
  ...(Object.fromEntries(VALUE_OPTIONS.map((name) => [name, { type: 'string' }])) as Record<(typeof VALUE_OPTIONS)[number], { type: 'string' }>),
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  live: { type: 'boolean' },
  'live-keep': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parse `jarzyn gmm` arguments into a configuration; throws UsageError on bad input. */
export function parseGmmArgs(
  argv: string[],
  defaultThreads: number,
): { config: GmmConfig; preset: GmmPreset; out?: string; json: boolean; quiet: boolean; help: boolean; live: boolean; liveKeep: boolean } {
  let parsed
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      allowPositionals: false,
      options: PARSE_OPTIONS,
    })
  } catch (e) {
    // parseArgs' messages can run to several lines of advice; the first says what is wrong.
    throw new UsageError((e as Error).message.split('\n')[0].trim())
  }
  const v = parsed.values
  const preset = (v.preset ?? 'jarzyn') as GmmPreset
  if (!Object.hasOwn(GMM_PRESETS, preset)) throw new UsageError(`--preset must be ${Object.keys(GMM_PRESETS).join(' or ')}, got '${preset}'`)
  const method = v.method ?? 'jarzynski'
  const methods: Method[] = method === 'all' ? ['jarzynski', 'pcd', 'cd'] : [method as Method]
  if (!['jarzynski', 'pcd', 'cd', 'all'].includes(method)) throw new UsageError(`--method must be jarzynski, pcd, cd or all, got '${method}'`)
  const device = v.device ?? 'cpu'
  if (!(DEVICES as readonly string[]).includes(device)) throw new UsageError(`--device must be ${DEVICES.join(', ')}, got '${device}'`)
  const P = PAPER_GMM_CONFIG
  const config: GmmConfig = {
    methods,
    dim: num('--dim', v.dim, P.dim, true),
    means: list('--means', v.means, P.means),
    weights: list('--weights', v.weights, P.weights),
    dataPoints: num('--data', v.data, P.dataPoints, true),
    walkers: num('--walkers', v.walkers, P.walkers, true),
    iterations: num('--iterations', v.iterations, envIterations('JARZYN_GMM_ITERATIONS') ?? P.iterations, true),
    stepSize: num('--step-size', v['step-size'], P.stepSize),
    lrMeans: num('--lr-means', v['lr-means'], P.lrMeans),
    lrLogWeights: num('--lr-logweights', v['lr-logweights'], P.lrLogWeights),
    cdLrFactor: num('--cd-lr-factor', v['cd-lr-factor'], P.cdLrFactor),
    resample: v.resample === undefined ? { ...GMM_PRESETS[preset].resample } : resampleArg(v.resample),
    cdReset: num('--cd-reset', v['cd-reset'], P.cdReset, true),
    seed: num('--seed', v.seed, P.seed, true),
    threads: num('--threads', v.threads, defaultThreads, true),
    device: device as SamplerDevice,
  }
  if (v.help) return { config, preset, json: false, quiet: false, help: true, live: false, liveKeep: false }
  try {
    validateGmmConfig(config)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (v.out !== undefined && v.out.trim() === '') throw new UsageError('--out expects a folder name')
  const liveKeep = Boolean(v['live-keep'])
  return { config, preset, out: v.out, json: Boolean(v.json), quiet: Boolean(v.quiet), help: false, live: Boolean(v.live) || liveKeep, liveKeep }
}

/** The configuration in one sentence, for the report: what ran, and where it differs from the paper. */
export function describeGmmConfig(config: GmmConfig, preset: GmmPreset): string {
  const r = config.resample
  const cv2 = r && r.essFraction > 0 ? 1 / r.essFraction - 1 : Infinity
  const resample = r ? `${r.scheme} resampling when ESS/N < ${r.essFraction} (CV^2 > ${Number(cv2.toPrecision(6))})` : 'no resampling'
  const P = PAPER_GMM_CONFIG
  const differs = (['dim', 'dataPoints', 'walkers', 'iterations', 'stepSize', 'lrMeans', 'lrLogWeights', 'cdLrFactor', 'cdReset'] as const).filter((k) => config[k] !== P[k])
  if (config.means.join() !== P.means.join()) differs.unshift('means' as never)
  if (config.weights.join() !== P.weights.join()) differs.unshift('weights' as never)
  const paperResample = config.resample?.scheme === 'multinomial' && config.resample.essFraction === 0.5
  return `preset '${preset}': ${resample}; ${differs.length === 0 ? "everything else as in the paper's script" : `changed from the paper's script: ${differs.map((k) => `${k} = ${JSON.stringify(config[k])}`).join(', ')}`}${paperResample ? '' : "; the authors' script resamples multinomially when CV^2 > c (c in 0.1 ... 1)"}.`
}


/** The end-of-run table, one block per method. */
export function formatGmmTable(results: GmmResult[]): string {
  const f = (v: number | null, d = 4) => (v === null ? '—' : v.toFixed(d))
  const lines = ['method     learned weights        data weights           exact KL   KL estimate  resamplings  wall time  sampler / energy time']
  for (const r of results) {
    const t = r.timings
    const sampler = t.move + t.observe + t.resample
    const energyTime = t.energy + t.paramGrad
    lines.push(
      `${LABEL[r.method].padEnd(10)} ${r.weights.map((w) => w.toFixed(3)).join(', ').padEnd(22)} ${r.dataWeights.map((w) => w.toFixed(3)).join(', ').padEnd(22)} ${f(r.klExact).padStart(8)} ${f(r.klEstimate).padStart(12)} ${String(r.resamplings).padStart(12)} ${(r.seconds.toFixed(1) + ' s').padStart(10)}  ${sampler.toFixed(2)} / ${energyTime.toFixed(2)} ms per iteration`,
    )
  }
  return lines.join('\n')
}

export async function gmmCommand(argv: string[], defaultThreads: number): Promise<number> {
  const args = parseGmmArgs(argv, defaultThreads)
  if (args.help) {
    process.stdout.write(GMM_HELP)
    return 0
  }
  if (args.out) ensureWritableDir(args.out)
  const configuration = describeGmmConfig(args.config, args.preset)
  if (!args.quiet) process.stderr.write(`jarzyn gmm: ${configuration}\n`)
  const progress = new Progress(process.stderr, !args.quiet)
  let current: Method | null = null
  // The live page: on a free port of 127.0.0.1, its address on stderr (also with --quiet).
  await withLive(args.live, args.liveKeep, async (live) => {
    const results = await runGmmExperiment(
      args.config,
      (method, done, total, last) => {
        if (method !== current) {
          current = method
          progress.begin(LABEL[method])
        }
        const w = last.model?.mixtureWeights as number[] | undefined
        progress.update(done, total, w ? `weights ${w.map((x) => x.toFixed(3)).join(',')}` : '')
      },
      { live: live ?? undefined, description: configuration },
    )
    if (args.json) {
      for (const r of results) {
        const { series: _s, walkers: _w, ...rest } = r
        process.stdout.write(JSON.stringify(rest) + '\n')
      }
    } else {
      process.stdout.write(formatGmmTable(results) + '\n')
      if (args.config.device !== undefined && args.config.device !== 'cpu') {
        process.stdout.write(`walkers ran on: ${[...new Set(results.map((r) => r.device))].join(', ')} (--device ${args.config.device})\n`)
      }
    }
    if (args.out) {
      const files = writeGmmReport(args.out, args.config, results, { jarzyn: 'gmm', preset: args.preset, configuration, date: new Date().toISOString() })
      if (!args.json) process.stdout.write(`report: ${args.out}/report.html (${files.length} files)\n`)
    }
  })
  return 0
}
