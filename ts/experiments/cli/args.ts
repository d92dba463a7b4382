/**
 * What the experiment commands share: number and resampling flags, the output folder check, the
 * live server.
 * @internal
 * @module
 */
import { mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

import { RESAMPLE_SCHEMES, type ResampleScheme } from '../../sampler'
import { startLiveServer, type LiveServer } from '../live/server'
import { UsageError } from './usage'

/** A number flag: a finite number (an integer when `integer`), `fallback` when absent. */
export function numberArg(name: string, v: string | undefined, fallback: number, integer = false): number {
  if (v === undefined) return fallback
  const x = Number(v)
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${name} expects a number, got '${v}'`)
  if (integer && !Number.isInteger(x)) throw new UsageError(`${name} expects an integer, got '${v}'`)
  return x
}

/**
 * `--resample SCHEME[:ESS_FRACTION] | SCHEME:cv2=C | off` (or `none`): the scheme and the ESS / N
 * below which it resamples (default 0.5; cv2=C is ESS / N < 1 / (1 + C)), or null for none.
 */
export function resampleArg(v: string): { scheme: ResampleScheme; essFraction: number } | null {
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
 * An environment variable that sets the default of `--iterations` (so that a README's command can
 * be run as printed, shorter), validated like the flag; undefined when unset or empty.
 */
export function envIterations(name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const x = Number(raw)
  if (!(Number.isInteger(x) && x >= 1)) throw new UsageError(`${name} must be a positive integer, got '${raw}'`)
  return x
}

/**
 * Make sure `--out` can take the report before hours of training: create the folder (one level at
 * a time: Node's recursive mkdir never returns on some paths, e.g. under /proc) and write and
 * remove a probe file in it.
 */
export function ensureWritableDir(dir: string): void {
  const abs = resolve(dir)
  const missing: string[] = []
  let p = abs
  for (;;) {
    let st
    try {
      st = statSync(p)
    } catch {
      missing.unshift(p)
      const up = dirname(p)
      if (up === p) break
      p = up
      continue
    }
    if (!st.isDirectory()) throw new UsageError(`--out ${dir}: ${p} exists and is not a folder`)
    break
  }
  try {
    for (const m of missing) mkdirSync(m)
    const probe = join(abs, `.jarzyn-write-probe-${process.pid}`)
    writeFileSync(probe, '')
    unlinkSync(probe)
  } catch (e) {
    throw new UsageError(`--out ${dir} is not writable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
}

/** With `--live`: a live server on 127.0.0.1, its address printed on stderr (also with --quiet). */
export async function liveServerIf(enabled: boolean): Promise<LiveServer | null> {
  if (!enabled) return null
  const live = await startLiveServer()
  process.stderr.write(`live: ${live.url}\n`)
  return live
}

/**
 * Run `body` with the live page when `enabled`: afterwards the page says the run finished and, with
 * `keep`, the final state stays served until SIGINT/SIGTERM (so that one can look at it after the
 * run); on any failure, the report's included, it says so. The server is closed either way, so that
 * a failed command does not stay alive on its open socket.
 */
export async function withLive<T>(enabled: boolean, keep: boolean, body: (live: LiveServer | null) => Promise<T>): Promise<T> {
  const live = await liveServerIf(enabled)
  if (!live) return body(null)
  let value: T
  try {
    value = await body(live)
  } catch (e) {
    live.end(`run failed: ${(e as Error).message}`)
    await live.close()
    throw e
  }
  if (keep) {
    live.end('run finished: the final state is shown until the command is stopped (Ctrl-C)')
    process.stderr.write(`live: run finished; serving the final state at ${live.url} until Ctrl-C\n`)
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve()
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
  } else {
    live.end('run finished (the live server has stopped)')
  }
  await live.close()
  return value
}
