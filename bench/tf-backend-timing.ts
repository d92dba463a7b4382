/**
 * One TensorFlow.js backend's timings, in a process of its own (tfjs cannot reliably switch backend
 * in one process once tfjs-node is loaded). Run by `bench/tf-backends.ts`:
 *
 *     JARZYN_TF_BACKEND=wasm node --import tsx bench/tf-backend-timing.ts [--quick]
 *     node --import tsx bench/tf-backend-timing.ts --default     # what initTensorflow() picks
 *
 * Cases: U + grad_x (`energy.evaluate`) of the MLP energy 100-128-128-1 SiLU at N = 8192 walkers;
 * U + grad_x of the paper's MNIST CNN (`cnnEnergy`, 28x28x1) at batch 256; the CNN's parameter
 * gradient (`surrogateGrad`) with 256 data images and 256 walkers. Each: warm-up, then the median of
 * several calls (fewer when a call is slow). A CNN case whose call is estimated, from a batch of 16,
 * to take more than 60 s (5 s with --quick: N = 1024, batch 32) is skipped and says so.
 *
 * stdout: one line `TFBENCH <json>`; progress on stderr.
 * @module
 */
import './preflight'

import { availableTfBackends, cnnEnergy, fillNormals, initTensorflow, mlpEnergy, type TfEnergy } from '../ts/index'

/** A CNN case is skipped when a call is estimated slower than this (5 s with --quick). */
export const SKIP_SECONDS = 60

/** One timed case. */
export interface CaseTiming {
  name: 'mlp' | 'cnn' | 'cnnParamGrad'
  /** Median milliseconds per call, or null when skipped. */
  ms: number | null
  /** Timed calls (after warm-up). */
  calls: number
  /** Why it was skipped. */
  skipped?: string
  /** Sums of |outputs| (U and grad_x, or the parameter gradient), to compare backends. */
  check: number[]
}

/** What the child prints. */
export type ChildReport =
  | { mode: 'default'; backend: string; available: string[] }
  | { mode: 'time'; backend: string; sizes: { mlpWalkers: number; cnnBatch: number }; cases: CaseTiming[] }

const now = () => performance.now()
const progress = (msg: string) => process.stderr.write(`[bench tf ${process.env.JARZYN_TF_BACKEND ?? 'default'}] ${msg}\n`)

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Warm up, then time calls: 10 when a call is under 0.5 s, 5 under 5 s, else 3. */
function time(call: () => void): { ms: number; calls: number } {
  let t = now()
  call()
  let first = now() - t
  if (first < 1000) {
    // A second warm-up: the first call also compiles and allocates.
    t = now()
    call()
    first = now() - t
  }
  const n = first < 500 ? 10 : first < 5000 ? 5 : 3
  const ms: number[] = []
  for (let i = 0; i < n; i++) {
    t = now()
    call()
    ms.push(now() - t)
  }
  return { ms: median(ms), calls: n }
}

function uniform(n: number, seed: number): Float32Array {
  // Pixels in [-1, 1] (the paper's scaling), from jarzyn's normals squashed: deterministic, cheap.
  const z = fillNormals(new Float32Array(n), { dim: 1, seed })
  return z.map((v) => Math.tanh(v))
}

/** Sum of absolute values (no cancellation: backends' round-off shows as a small relative change). */
function sumAbs(a: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i])
  return s
}

/** U + grad_x of `energy` at `x` (n points), timed. */
function evaluateCase(name: CaseTiming['name'], energy: TfEnergy, x: Float32Array): CaseTiming {
  const n = x.length / energy.dim
  const u = new Float32Array(n)
  const g = new Float32Array(n * energy.dim)
  const { ms, calls } = time(() => energy.evaluate(x, u, g))
  return { name, ms, calls, check: [sumAbs(u), sumAbs(g)] }
}

async function main(): Promise<void> {
  if (process.argv.includes('--default')) {
    delete process.env.JARZYN_TF_BACKEND
    const { backend } = await initTensorflow()
    const report: ChildReport = { mode: 'default', backend, available: availableTfBackends() }
    process.stdout.write(`TFBENCH ${JSON.stringify(report)}\n`)
    return
  }
  const quick = process.argv.includes('--quick')
  const { backend } = await initTensorflow()
  const mlpWalkers = quick ? 1024 : 8192
  const cnnBatch = quick ? 32 : 256
  const cases: CaseTiming[] = []

  progress(`MLP 100-128-128-1 SiLU, U + grad_x, N = ${mlpWalkers}`)
  const mlp = mlpEnergy({ dim: 100, hidden: [128, 128], activation: 'silu', seed: 1 })
  cases.push(evaluateCase('mlp', mlp, fillNormals(new Float32Array(mlpWalkers * 100), { dim: 100, seed: 7 })))
  mlp.dispose()

  const cnn = cnnEnergy({ height: 28, width: 28, penalty: 0.01, seed: 1 })
  const images = (n: number, seed: number) => uniform(n * cnn.dim, seed)
  // Estimated seconds per call from a batch of 16 (after its own warm-up), for the 60 s rule.
  const estimate = (call: (batch: number) => void): number => {
    call(16)
    const t = now()
    call(16)
    return ((now() - t) / 1000) * (cnnBatch / 16)
  }
  const limit = quick ? 5 : SKIP_SECONDS

  progress(`CNN (paper's MNIST net) U + grad_x, batch ${cnnBatch}`)
  const x16 = images(16, 11)
  const est = estimate(() => cnn.evaluate(x16, new Float32Array(16), new Float32Array(16 * cnn.dim)))
  if (est > limit) cases.push({ name: 'cnn', ms: null, calls: 0, skipped: `~${est.toFixed(0)} s per call (estimated from batch 16) > ${limit} s`, check: [] })
  else cases.push(evaluateCase('cnn', cnn, images(cnnBatch, 11)))

  progress(`CNN parameter gradient (surrogateGrad), ${cnnBatch} data images + ${cnnBatch} walkers`)
  const data = images(cnnBatch, 12)
  const walkers = images(cnnBatch, 13)
  const weights = new Float64Array(cnnBatch).fill(1 / cnnBatch)
  const w16 = new Float64Array(16).fill(1 / 16)
  const estG = estimate(() => cnn.surrogateGrad(data.subarray(0, 16 * cnn.dim), walkers.subarray(0, 16 * cnn.dim), w16))
  if (estG > limit) {
    cases.push({ name: 'cnnParamGrad', ms: null, calls: 0, skipped: `~${estG.toFixed(0)} s per call (estimated from batch 16) > ${limit} s`, check: [] })
  } else {
    let grad: ArrayLike<number> = []
    const { ms, calls } = time(() => {
      grad = cnn.surrogateGrad(data, walkers, weights).grad
    })
    cases.push({ name: 'cnnParamGrad', ms, calls, check: [sumAbs(grad)] })
  }
  cnn.dispose()

  const report: ChildReport = { mode: 'time', backend, sizes: { mlpWalkers, cnnBatch }, cases }
  process.stdout.write(`TFBENCH ${JSON.stringify(report)}\n`)
}

main().catch((e: unknown) => {
  process.stderr.write(`tf-backend-timing failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 1
})
