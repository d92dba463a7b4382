/**
 * Choosing and starting the TensorFlow.js backend: `@tensorflow/tfjs-node` (native TensorFlow) when it
 * loads, else the WebAssembly backend, else the pure-JavaScript cpu backend.
 *
 * TensorFlow.js is loaded on first use, not when `jarzyn` is imported, so that runs with native
 * energies do not pay its start-up time (about 0.3 s).
 * @module
 */
import { dirname } from 'node:path'

import type * as TF from '@tensorflow/tfjs'

import { jarzynError } from '../errors'
import { describe } from '../validate'
import { registerWasmFixes } from './wasm-fixes'

/** The TensorFlow.js backends jarzyn can run on, fastest first. */
export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu'

/** Backends in the order {@link initTensorflow} tries them. */
export const TF_BACKENDS: readonly TfBackendName[] = ['tensorflow', 'wasm', 'cpu']

/** Options of {@link initTensorflow}. */
export interface InitTensorflowOptions {
  /**
   * Use this backend or fail with `ERR_JARZYN_BACKEND`. Default: the environment variable
   * `JARZYN_TF_BACKEND` if set, else the first of {@link TF_BACKENDS} that starts.
   */
  backend?: TfBackendName
}

/** What {@link initTensorflow} set up. */
export interface TensorflowHandle {
  /** The `@tensorflow/tfjs` module every jarzyn energy uses. */
  tf: typeof TF
  /** The active backend. */
  backend: TfBackendName
}

let tfModule: typeof TF | undefined

/**
 * The `@tensorflow/tfjs` module (it registers the cpu backend and every gradient, which
 * `@tensorflow/tfjs-core` alone does not).
 * @internal
 */
export function loadTf(): typeof TF {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  tfModule ??= require('@tensorflow/tfjs') as typeof TF
  return tfModule
}

/** Why each optional backend package failed to load (absent when it loaded). */
const loadErrors = new Map<TfBackendName, string>()
const loaded = new Set<TfBackendName>(['cpu'])

/** Load a backend's package; false (with the reason kept) when it cannot be loaded. */
function loadBackendPackage(name: TfBackendName): boolean {
  if (loaded.has(name)) return true
  if (loadErrors.has(name)) return false
  try {
    if (name === 'tensorflow') {
      // An optional dependency whose install downloads libtensorflow: often absent or unbuilt
      // (`npm run setup:tfjs-node` builds it without that download). TensorFlow's C++ logging reads
      // this variable once: unless the user set it, keep its info lines (oneDNN, CPU features) quiet.
      process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-node')
    } else if (name === 'wasm') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm')
      // The package's own folder: robust to bundlers and working directories, no network.
      const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
      try {
        wasm.setWasmPaths(dir + '/')
      } catch (e) {
        // Someone started the wasm backend before us: it found its binaries, nothing to point.
        if (!firstLine(e).includes('already initialized')) throw e
      }
    }
    loaded.add(name)
    return true
  } catch (e) {
    loadErrors.set(name, firstLine(e))
    return false
  }
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  return msg.split('\n')[0]
}

/**
 * Backends whose packages load here (synchronous; does not start them). The wasm backend may still
 * fail to start; {@link initTensorflow} tells.
 */
export function availableTfBackends(): TfBackendName[] {
  loadTf()
  return TF_BACKENDS.filter(loadBackendPackage)
}

function backendOption(v: unknown, source: string): TfBackendName {
  if (typeof v !== 'string' || !(TF_BACKENDS as readonly string[]).includes(v)) {
    const got = typeof v === 'string' ? `'${v}'` : describe(v)
    throw jarzynError(
      typeof v === 'string' ? RangeError : TypeError,
      'ERR_JARZYN_INVALID_OPTION',
      `${source} must be one of ${TF_BACKENDS.join(', ')}, got ${got}`,
    )
  }
  return v as TfBackendName
}

/** Start one backend; the reason it failed, or null. */
async function start(tf: typeof TF, name: TfBackendName): Promise<string | null> {
  if (!loadBackendPackage(name)) return loadErrors.get(name) ?? 'could not be loaded'
  let ok: boolean
  try {
    ok = await tf.setBackend(name)
  } catch (e) {
    return firstLine(e)
  }
  if (!ok) return 'failed to initialise'
  await tf.ready()
  if (name === 'wasm') registerWasmFixes(tf)
  return null
}

/**
 * Load TensorFlow.js and start a backend. Call it (and await it) before building a TensorFlow.js
 * energy; energies report the backend they were built on (`energy.backend`, e.g. `'tfjs:wasm'`).
 *
 * Without a forced backend it tries `'tensorflow'` (the optional `@tensorflow/tfjs-node`; in a clone,
 * `npm run setup:tfjs-node` sets it up where its own install cannot download TensorFlow), then
 * `'wasm'`, then `'cpu'`. A forced backend (option, else `JARZYN_TF_BACKEND`) that cannot start
 * is an error with code `ERR_JARZYN_BACKEND`. On wasm it also registers the kernels and gradients
 * that make network training work and fast there (see `wasm-fixes`; wasm only). Before loading
 * tfjs-node it sets `TF_CPP_MIN_LOG_LEVEL=2` unless that variable is set, which keeps TensorFlow's
 * start-up info lines (oneDNN, CPU features) off stderr; set it to 0 to see them.
 *
 * @example
 * ```ts
 * const { tf, backend } = await initTensorflow()          // e.g. backend === 'wasm'
 * await initTensorflow({ backend: 'cpu' })                 // force one
 * ```
 */
export async function initTensorflow(options: InitTensorflowOptions = {}): Promise<TensorflowHandle> {
  if (typeof options !== 'object' || options === null) {
    throw jarzynError(TypeError, 'ERR_JARZYN_INVALID_OPTION', `initTensorflow options must be an object, got ${describe(options)}`)
  }
  for (const k of Object.keys(options)) {
    if (k !== 'backend') throw jarzynError(TypeError, 'ERR_JARZYN_UNKNOWN_OPTION', `unknown initTensorflow option \`${k}\` (known: backend)`)
  }
  const env = process.env.JARZYN_TF_BACKEND
  const forced =
    options.backend !== undefined
      ? backendOption(options.backend, 'option `backend`')
      : env !== undefined && env !== ''
        ? backendOption(env, 'environment variable JARZYN_TF_BACKEND')
        : undefined
  const tf = loadTf()
  if (forced) {
    const why = await start(tf, forced)
    if (why !== null) {
      throw jarzynError(Error, 'ERR_JARZYN_BACKEND', `TensorFlow.js backend '${forced}' is not available: ${why}`)
    }
    return { tf, backend: forced }
  }
  const reasons: string[] = []
  for (const name of TF_BACKENDS) {
    const why = await start(tf, name)
    if (why === null) return { tf, backend: name }
    reasons.push(`${name}: ${why}`)
  }
  throw jarzynError(Error, 'ERR_JARZYN_BACKEND', `no TensorFlow.js backend could start (${reasons.join('; ')})`)
}

/**
 * The active backend as jarzyn names it in `energy.backend` (`'tfjs:wasm'`, ...).
 * @internal
 */
export function backendLabel(tf: typeof TF): string {
  return `tfjs:${tf.getBackend()}`
}
