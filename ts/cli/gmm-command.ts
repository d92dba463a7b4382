/**
 * `jarzyn gmm`: the paper's Gaussian-mixture experiment from the command line.
 * @module
 */
import { parseArgs } from 'node:util'

import { PAPER_GMM_CONFIG, runGmmExperiment, validateGmmConfig, type GmmConfig, type GmmResult } from '../experiments/gmm'
import { writeGmmReport } from '../report/gmm-report'
import type { Method } from '../trainer'
import { RESAMPLE_SCHEMES, type ResampleScheme } from '../sampler'
import { CUDA_AUTO_MIN_ELEMENTS, DEVICES, type SamplerDevice } from '../device'
import { Progress } from './progress'
import { UsageError } from './usage'

export const GMM_HELP = `Usage: jarzyn gmm [options]

Reproduce the Gaussian-mixture experiment of Carbone et al. (NeurIPS 2023): learn the weights of a
two-mode mixture with Jarzynski-weighted walkers, PCD and CD. Defaults are the paper's configuration.

Options:
  --method M          jarzynski | pcd | cd | all           (default jarzynski)
  --dim D             dimension                             (default 50)
  --means LIST        data mode positions on the first axis (default -10,6)
  --weights LIST      data mode weights, summing to 1       (default 0.25,0.75)
  --data N            data points                           (default 10000)
  --walkers N         walkers                               (default 10000)
  --iterations N      training iterations                   (default 8000)
  --step-size H       ULA step size                         (default 0.1)
  --lr-means R        learning rate of the means            (default 2.5e-3)
  --lr-logweights R   learning rate of the log-weights      (default 1.25e-2)
  --cd-lr-factor F    CD learning-rate multiplier           (default 10, as the paper)
  --resample SPEC     SCHEME[:ESS_FRACTION] | SCHEME:cv2=C | off   (default systematic:0.5)
                      schemes: ${RESAMPLE_SCHEMES.join(', ')}
  --cd-reset K        CD: reset walkers to data every K iterations (default 4)
  --seed S            seed                                  (default 1)
  --threads T         threads; results do not depend on it  (default: CPUs)
  --device D          cpu | cuda | auto: where the walkers run (default cpu).
                      cuda falls back to the CPU with a warning when CUDA cannot run
                      (no NVIDIA driver for CUDA 12.2+, no GPU, no NVRTC); auto picks
                      CUDA when available and walkers x dim >= ${CUDA_AUTO_MIN_ELEMENTS}
  --out DIR           write a report: plots (SVG), report.html, series.json/.csv, results.json
  --json              print one JSON object per method on stdout
  --quiet             no progress display
  -h, --help          this help
`

function num(name: string, v: string | undefined, fallback: number, integer = false): number {
  if (v === undefined) return fallback
  const x = Number(v)
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${name} expects a number, got '${v}'`)
  if (integer && !Number.isInteger(x)) throw new UsageError(`${name} expects an integer, got '${v}'`)
  return x
}

function list(name: string, v: string | undefined, fallback: number[]): number[] {
  if (v === undefined) return fallback
  const parts = v.split(',').map((s) => s.trim())
  const xs = parts.map(Number)
  if (parts.some((p) => p === '') || xs.some((x) => !Number.isFinite(x))) throw new UsageError(`${name} expects a comma-separated list of numbers, got '${v}'`)
  return xs
}

function resampleSpec(v: string | undefined): GmmConfig['resample'] {
  if (v === undefined) return PAPER_GMM_CONFIG.resample
  if (v === 'off' || v === 'none') return null
  const [scheme, thr] = v.split(':')
  if (!(RESAMPLE_SCHEMES as readonly string[]).includes(scheme)) {
    throw new UsageError(`--resample scheme must be one of ${RESAMPLE_SCHEMES.join(', ')} or 'off', got '${scheme}'`)
  }
  let essFraction = 0.5
  if (thr !== undefined) {
    if (thr.startsWith('cv2=')) {
      const c = Number(thr.slice(4))
      if (!(c >= 0)) throw new UsageError(`--resample cv2 threshold must be a number >= 0, got '${thr.slice(4)}'`)
      essFraction = 1 / (1 + c)
    } else {
      essFraction = Number(thr)
      if (!(essFraction >= 0 && essFraction <= 1)) throw new UsageError(`--resample ESS fraction must be in [0, 1], got '${thr}'`)
    }
  }
  return { scheme: scheme as ResampleScheme, essFraction }
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

/** Parse `jarzyn gmm` arguments into a configuration; throws UsageError on bad input. */
export function parseGmmArgs(argv: string[], defaultThreads: number): { config: GmmConfig; out?: string; json: boolean; quiet: boolean; help: boolean } {
  let parsed
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      allowPositionals: false,
      options: {
        method: { type: 'string' },
        dim: { type: 'string' },
        means: { type: 'string' },
        weights: { type: 'string' },
        data: { type: 'string' },
        walkers: { type: 'string' },
        iterations: { type: 'string' },
        'step-size': { type: 'string' },
        'lr-means': { type: 'string' },
        'lr-logweights': { type: 'string' },
        'cd-lr-factor': { type: 'string' },
        resample: { type: 'string' },
        'cd-reset': { type: 'string' },
        seed: { type: 'string' },
        threads: { type: 'string' },
        device: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (e) {
    // parseArgs' messages can run to several lines of advice; the first says what is wrong.
    throw new UsageError((e as Error).message.split('\n')[0].trim())
  }
  const v = parsed.values
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
    iterations: num('--iterations', v.iterations, P.iterations, true),
    stepSize: num('--step-size', v['step-size'], P.stepSize),
    lrMeans: num('--lr-means', v['lr-means'], P.lrMeans),
    lrLogWeights: num('--lr-logweights', v['lr-logweights'], P.lrLogWeights),
    cdLrFactor: num('--cd-lr-factor', v['cd-lr-factor'], P.cdLrFactor),
    resample: resampleSpec(v.resample),
    cdReset: num('--cd-reset', v['cd-reset'], P.cdReset, true),
    seed: num('--seed', v.seed, P.seed, true),
    threads: num('--threads', v.threads, defaultThreads, true),
    device: device as SamplerDevice,
  }
  if (v.help) return { config, json: false, quiet: false, help: true }
  try {
    validateGmmConfig(config)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (v.out !== undefined && v.out.trim() === '') throw new UsageError('--out expects a folder name')
  return { config, out: v.out, json: Boolean(v.json), quiet: Boolean(v.quiet), help: false }
}

const LABEL: Record<Method, string> = { jarzynski: 'Jarzynski', pcd: 'PCD', cd: 'CD' }

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
  const progress = new Progress(process.stderr, !args.quiet)
  let current: Method | null = null
  const results = await runGmmExperiment(args.config, (method, done, total, last) => {
    if (method !== current) {
      current = method
      progress.begin(LABEL[method])
    }
    const w = last.model?.mixtureWeights as number[] | undefined
    progress.update(done, total, w ? `weights ${w.map((x) => x.toFixed(3)).join(',')}` : '')
  })
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
    const files = writeGmmReport(args.out, args.config, results, { jarzyn: 'gmm', date: new Date().toISOString() })
    if (!args.json) process.stdout.write(`report: ${args.out}/report.html (${files.length} files)\n`)
  }
  return 0
}
