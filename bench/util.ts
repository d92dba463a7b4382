/**
 * Timing, memory and output helpers of the benchmark.
 * @module
 */
import v8 from 'node:v8'
import vm from 'node:vm'

/** Seconds since an arbitrary origin, nanosecond resolution. */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e9
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : 0.5 * (s[m - 1] + s[m])
}

export function min(xs: number[]): number {
  return xs.reduce((a, b) => Math.min(a, b), Infinity)
}

/** A full garbage collection when the runtime lets us have one (V8's gc, exposed at run time). */
export const gc: () => void = (() => {
  const g = (globalThis as { gc?: () => void }).gc
  if (typeof g === 'function') return g
  try {
    v8.setFlagsFromString('--expose-gc')
    const f = vm.runInNewContext('gc') as unknown
    if (typeof f === 'function') return f as () => void
  } catch {
    // fall through: no forced collections
  }
  return () => {}
})()

export const gcAvailable: boolean = gc.toString() !== (() => {}).toString()

/**
 * Collect garbage and let the event loop run, so that the finalizers of external ArrayBuffers
 * (the sampler's views of native memory) run and the native memory is freed: they run only after
 * control returns to the event loop, never inside a synchronous loop.
 */
export async function release(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Resident set size in bytes. */
export function rss(): number {
  return process.memoryUsage.rss()
}

/** Progress to stderr (stdout carries only the table and the JSON line). */
export function progress(msg: string): void {
  process.stderr.write(`[bench ${process.uptime().toFixed(1).padStart(6)} s] ${msg}\n`)
}

/** 1234567 -> "1.23e6"-like engineering strings for the table. */
export function si(x: number, unit = ''): string {
  if (!Number.isFinite(x)) return String(x)
  const abs = Math.abs(x)
  const pre: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
    [1, ''],
    [1e-3, 'm'],
    [1e-6, 'u'],
    [1e-9, 'n'],
  ]
  for (const [f, p] of pre) {
    if (abs >= f) return `${(x / f).toPrecision(3)} ${p}${unit}`
  }
  return `${x.toPrecision(3)} ${unit}`
}

/** A plain-text table: header row, separator, rows; columns right-aligned except the first. */
export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')
  return [fmt(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n')
}

/** Round for the JSON line (keeps it short, no false precision). */
export function r4(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : x
}
