/**
 * Progress display: a bar with ETA on a terminal, a plain line every 10 % otherwise.
 * @module
 */

export class Progress {
  readonly #stream: NodeJS.WriteStream
  readonly #tty: boolean
  #start = 0
  #lastDraw = 0
  #lastDecile = -1
  #label = ''
  #from = 0

  constructor(stream: NodeJS.WriteStream = process.stderr, enabled = true) {
    this.#stream = stream
    this.#tty = enabled && Boolean(stream.isTTY)
    this.enabled = enabled
  }

  readonly enabled: boolean

  /** Start a bar; `from`: steps already done before this process (a resumed run), left out of the rate. */
  begin(label: string, from = 0): void {
    this.#label = label
    this.#from = from
    this.#start = performance.now()
    this.#lastDraw = 0
    this.#lastDecile = -1
  }

  update(done: number, total: number, note = ''): void {
    if (!this.enabled) return
    const now = performance.now()
    const frac = total > 0 ? done / total : 1
    const elapsed = (now - this.#start) / 1000
    const rate = done > this.#from ? (done - this.#from) / Math.max(elapsed, 1e-9) : 0
    const eta = rate > 0 ? (total - done) / rate : 0
    if (this.#tty) {
      if (now - this.#lastDraw < 100 && done < total) return
      this.#lastDraw = now
      const width = 30
      const filled = Math.round(frac * width)
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled)
      this.#stream.write(`\r${this.#label.padEnd(10)} ${bar} ${(100 * frac).toFixed(0).padStart(3)}% ${done}/${total}  ${elapsed.toFixed(1)}s  ETA ${eta.toFixed(1)}s ${note}\x1b[K`)
      if (done >= total) this.#stream.write('\n')
    } else {
      const decile = Math.floor(frac * 10)
      if (decile > this.#lastDecile) {
        this.#lastDecile = decile
        this.#stream.write(`${this.#label}: ${done}/${total} (${(100 * frac).toFixed(0)}%) ${elapsed.toFixed(1)}s elapsed, ETA ${eta.toFixed(1)}s ${note}\n`)
      }
    }
  }
}
