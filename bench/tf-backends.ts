/**
 * The TensorFlow.js backends section of `npm run bench`: per available backend ('tensorflow' when
 * `npm run setup:tfjs-node` has set it up, 'wasm', 'cpu'), U + grad_x of the MLP and CNN energies
 * and the CNN's parameter gradient, each backend in a child process of its own
 * (`bench/tf-backend-timing.ts`); then whether `initTensorflow()`'s default is the fastest.
 * @module
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import type { CaseTiming, ChildReport } from './tf-backend-timing'
import { r4, table } from './util'

const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const
const CASE_LABELS: Record<CaseTiming['name'], (s: { mlpWalkers: number; cnnBatch: number }) => string> = {
  mlp: (s) => `MLP 100-128-128-1 SiLU, U + grad_x, N = ${s.mlpWalkers}`,
  cnn: (s) => `CNN (MNIST, 28x28x1), U + grad_x, batch ${s.cnnBatch}`,
  cnnParamGrad: (s) => `CNN parameter gradient, ${s.cnnBatch} data + ${s.cnnBatch} walkers`,
}

/** One backend's row: its timings, or why it did not run. */
export interface TfBackendRun {
  backend: (typeof BACKENDS)[number]
  /** Null when the backend is not available or its process failed (`reason`). */
  cases: CaseTiming[] | null
  reason?: string
}

/** The section's result. */
export interface TfBackendsResult {
  /** What `initTensorflow()` starts without a forced backend. */
  defaultBackend: string | null
  available: string[]
  sizes: { mlpWalkers: number; cnnBatch: number }
  runs: TfBackendRun[]
  /** Per case, the fastest backend measured. */
  fastest: Partial<Record<CaseTiming['name'], string>>
  /** Whether the default backend is the fastest in every case measured on it. */
  defaultIsFastest: boolean
  /** Largest relative difference of the sums of |output| from the wasm backend's, per backend. */
  maxRelativeDifference: Record<string, number>
}

const CHILD = join(__dirname, 'tf-backend-timing.ts')

/** Run the child script; its report, or the reason it failed. */
function child(args: string[], backend: string | undefined): ChildReport | string {
  const env = { ...process.env }
  if (backend === undefined) delete env.JARZYN_TF_BACKEND
  else env.JARZYN_TF_BACKEND = backend
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    cwd: join(__dirname, '..'),
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  })
  if (r.error) return `could not run it: ${r.error.message}`
  const line = (r.stdout ?? '')
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('TFBENCH '))
  if (r.status !== 0 || !line) return `its process exited with ${r.status ?? r.signal} (stderr above)`
  return JSON.parse(line.slice('TFBENCH '.length)) as ChildReport
}

/** Time every available backend, each in its own process (minutes: the cpu backend is slow). */
export function benchTfBackends(quick: boolean): TfBackendsResult {
  const d = child(['--default'], undefined)
  const defaultBackend = typeof d === 'string' || d.mode !== 'default' ? null : d.backend
  const available = typeof d === 'string' || d.mode !== 'default' ? ['wasm', 'cpu'] : d.available
  let sizes = { mlpWalkers: 0, cnnBatch: 0 }
  const runs: TfBackendRun[] = BACKENDS.map((backend) => {
    if (!available.includes(backend)) {
      return { backend, cases: null, reason: backend === 'tensorflow' ? 'not set up (npm run setup:tfjs-node)' : 'not available' }
    }
    const r = child(quick ? ['--quick'] : [], backend)
    if (typeof r === 'string' || r.mode !== 'time') return { backend, cases: null, reason: typeof r === 'string' ? r : 'unexpected report' }
    sizes = r.sizes
    return { backend, cases: r.cases }
  })
  const fastest: TfBackendsResult['fastest'] = {}
  for (const name of Object.keys(CASE_LABELS) as CaseTiming['name'][]) {
    let best: { backend: string; ms: number } | null = null
    for (const run of runs) {
      const c = run.cases?.find((x) => x.name === name)
      if (c?.ms != null && (best === null || c.ms < best.ms)) best = { backend: run.backend, ms: c.ms }
    }
    if (best) fastest[name] = best.backend
  }
  const onDefault = runs.find((r) => r.backend === defaultBackend)?.cases ?? []
  const defaultIsFastest = onDefault.length > 0 && onDefault.every((c) => c.ms === null || fastest[c.name] === defaultBackend)
  const wasm = runs.find((r) => r.backend === 'wasm')?.cases ?? []
  const maxRelativeDifference: Record<string, number> = {}
  for (const run of runs) {
    if (!run.cases || run.backend === 'wasm') continue
    let worst = 0
    for (const c of run.cases) {
      const ref = wasm.find((x) => x.name === c.name)?.check ?? []
      c.check.forEach((v, i) => {
        if (i < ref.length) worst = Math.max(worst, Math.abs(v - ref[i]) / Math.max(Math.abs(ref[i]), 1e-30))
      })
    }
    maxRelativeDifference[run.backend] = worst
  }
  return { defaultBackend, available, sizes, runs, fastest, defaultIsFastest, maxRelativeDifference }
}

/** The section's lines for the report. */
export function tfBackendLines(r: TfBackendsResult): string[] {
  const cell = (run: TfBackendRun, name: CaseTiming['name']) => {
    if (!run.cases) return '-'
    const c = run.cases.find((x) => x.name === name)
    if (!c) return '-'
    return c.ms === null ? 'skipped' : `${c.ms < 100 ? c.ms.toFixed(1) : c.ms.toFixed(0)}${run.backend === r.fastest[name] ? ' *' : ''}`
  }
  const wasmMs = (name: CaseTiming['name']) => r.runs.find((x) => x.backend === 'wasm')?.cases?.find((c) => c.name === name)?.ms ?? null
  const tfMs = (name: CaseTiming['name']) => r.runs.find((x) => x.backend === 'tensorflow')?.cases?.find((c) => c.name === name)?.ms ?? null
  const out: string[] = []
  out.push(
    `TensorFlow.js backends: ms per call (median after warm-up; each backend in its own process; * = fastest). U + grad_x is energy.evaluate,` +
      ` the parameter gradient surrogateGrad; both include the copies in and out.`,
  )
  out.push(
    table(
      ['case', ...r.runs.map((x) => x.backend), 'wasm / tensorflow'],
      (Object.keys(CASE_LABELS) as CaseTiming['name'][]).map((name) => {
        const w = wasmMs(name)
        const t = tfMs(name)
        return [CASE_LABELS[name](r.sizes), ...r.runs.map((run) => cell(run, name)), w !== null && t !== null ? `${(w / t).toFixed(1)}x` : '-']
      }),
    ),
  )
  for (const run of r.runs) {
    if (!run.cases) out.push(`${run.backend}: ${run.reason}`)
    for (const c of run.cases ?? []) if (c.skipped) out.push(`${run.backend}, ${CASE_LABELS[c.name](r.sizes)}: skipped, ${c.skipped}`)
  }
  const diffs = Object.entries(r.maxRelativeDifference)
  if (diffs.length) out.push(`Outputs against wasm: relative difference of the sums of |U|, |grad_x| and |parameter gradient| ${diffs.map(([b, v]) => `${b} ${v.toExponential(1)}`).join(', ')}`)
  out.push(
    `initTensorflow() picks '${r.defaultBackend ?? '(failed)'}' by default (available: ${r.available.join(', ')});` +
      ` fastest in every case: ${r.defaultIsFastest ? 'PASS' : `MISS (fastest: ${Object.entries(r.fastest).map(([k, v]) => `${k} ${v}`).join(', ')})`}`,
  )
  return out
}

/** The section's JSON. */
export function tfBackendJson(r: TfBackendsResult): object {
  return {
    defaultBackend: r.defaultBackend,
    available: r.available,
    defaultIsFastest: r.defaultIsFastest,
    sizes: r.sizes,
    fastest: r.fastest,
    maxRelativeDifferenceFromWasm: Object.fromEntries(Object.entries(r.maxRelativeDifference).map(([k, v]) => [k, r4(v)])),
    results: r.runs.map((run) => ({
      backend: run.backend,
      reason: run.reason,
      cases: run.cases?.map((c) => ({ name: c.name, msPerCall: c.ms === null ? null : r4(c.ms), calls: c.calls, skipped: c.skipped })),
    })),
  }
}

// `node --import tsx bench/tf-backends.ts [--quick]`: this section alone.
if (require.main === module) {
  const r = benchTfBackends(process.argv.includes('--quick') || process.env.BENCH_QUICK === '1')
  process.stdout.write(tfBackendLines(r).join('\n') + '\n' + JSON.stringify(tfBackendJson(r)) + '\n')
}
