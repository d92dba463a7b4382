/**
 * A small local web server that shows a run as it goes: {@link startLiveServer}. It serves one
 * self-contained page (inline script and style, plots drawn as inline SVG and canvas, nothing
 * loaded from elsewhere) and streams the run's series and pictures to it with server-sent events
 * (the protocol: {@link LiveLayout} and the `live/protocol` module). It listens on 127.0.0.1 only.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

import { livePage } from './page'
import { wireNumber, wirePicture, type LiveLayout, type LivePicture } from './protocol'

/** Options of {@link startLiveServer}. */
export interface LiveServerOptions {
  /** TCP port on 127.0.0.1 (default 0: a free port, see {@link LiveServer.url}). */
  port?: number
  /** Milliseconds between batches of points sent to the page (default 250). */
  flushMs?: number
  /** Points kept per series for pages that connect late (default 4000; evenly thinned beyond). */
  historyPoints?: number
}

/** Points of one series: kept history (thinned by `stride`) and the batch not yet sent. */
interface SeriesBuffer {
  history: (number | null)[]
  /** Keep every stride-th pushed point in the history. */
  stride: number
  pushed: number
  pending: (number | null)[]
}

/**
 * The live view of a run: a server on 127.0.0.1 serving the page at {@link LiveServer.url} and the
 * events it listens to. An experiment sets a {@link LiveLayout}, then pushes points, pictures and
 * a status line as it runs; every connected page is updated within `flushMs`.
 *
 * @example
 * ```ts
 * const live = await startLiveServer()
 * console.error(`live: ${live.url}`)
 * live.setLayout({ title: 'My run', panels: [
 *   { kind: 'lines', id: 'loss', title: 'Loss', yLabel: 'nats', series: [{ id: 'train', label: 'train' }] },
 *   { kind: 'picture', id: 'samples', title: 'Samples' },
 * ] })
 * for (let k = 0; k < 1000; k++) {
 *   live.push('train', k, lossAt(k))
 *   if (k % 100 === 0) live.picture('samples', { type: 'image', png: sampleGridPng() })
 *   live.status(`iteration ${k + 1} / 1000`)
 *   await new Promise((r) => setImmediate(r))    // let the server send (a Trainer's run() does this)
 * }
 * live.end('done')
 * await live.close()
 * ```
 */
export class LiveServer {
  /** The page's address, `http://127.0.0.1:PORT/`. */
  readonly url: string
  /** The port listened on (127.0.0.1 only). */
  readonly port: number

  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #clients = new Set<ServerResponse>()
  readonly #series = new Map<string, SeriesBuffer>()
  readonly #pictures = new Map<string, unknown>()
  readonly #pendingPictures = new Set<string>()
  readonly #historyPoints: number
  #layout: LiveLayout = { title: 'jarzyn', panels: [] }
  #status = ''
  #statusPending = false
  #ended: string | null = null
  #timer: NodeJS.Timeout
  #ping: NodeJS.Timeout
  #closed = false

  /** @internal Use {@link startLiveServer}. */
  constructor(server: Server, options: Required<LiveServerOptions>) {
    this.#server = server
    const addr = server.address() as AddressInfo
    this.port = addr.port
    this.url = `http://127.0.0.1:${this.port}/`
    this.#historyPoints = options.historyPoints
    server.on('connection', (s) => {
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
    server.on('request', (req, res) => this.#handle(req, res))
    this.#timer = setInterval(() => this.flush(), options.flushMs)
    this.#timer.unref()
    this.#ping = setInterval(() => this.#broadcast(': ping\n\n'), 15_000)
    this.#ping.unref()
  }

  /** Pages connected now. */
  get clients(): number {
    return this.#clients.size
  }

  /** Whether {@link LiveServer.end} was called. */
  get ended(): boolean {
    return this.#ended !== null
  }

  /** Set (or replace) the page's layout; series not in it are dropped. Sent to every page at once. */
  setLayout(layout: LiveLayout): void {
    const ids = new Set<string>()
    for (const p of layout.panels) {
      if (ids.has(p.id)) throw new RangeError(`live layout: panel id '${p.id}' is used twice`)
      ids.add(p.id)
    }
    const series = new Set<string>()
    for (const p of layout.panels) {
      if (p.kind !== 'lines') continue
      for (const s of p.series) {
        if (series.has(s.id)) throw new RangeError(`live layout: series id '${s.id}' is used twice`)
        series.add(s.id)
      }
    }
    this.#layout = structuredClone(layout)
    for (const id of [...this.#series.keys()]) if (!series.has(id)) this.#series.delete(id)
    for (const id of series) if (!this.#series.has(id)) this.#series.set(id, { history: [], stride: 1, pushed: 0, pending: [] })
    for (const id of [...this.#pictures.keys()]) if (!ids.has(id)) this.#pictures.delete(id)
    this.#broadcast(event('layout', this.#layout))
  }

  /** Append the point (x, y) to series `id` (a non-finite y is a gap). Unknown ids are an error. */
  push(id: string, x: number, y: number): void {
    const s = this.#series.get(id)
    if (!s) throw new RangeError(`live: no series '${id}' in the layout`)
    const px = wireNumber(x)
    const py = wireNumber(y)
    s.pending.push(px, py)
    if (s.pushed++ % s.stride === 0) {
      s.history.push(px, py)
      if (s.history.length > 2 * this.#historyPoints) {
        // Keep every other point: the history stays evenly spread over the run.
        const kept: (number | null)[] = []
        for (let i = 0; i < s.history.length; i += 4) kept.push(s.history[i], s.history[i + 1])
        s.history = kept
        s.stride *= 2
      }
    }
  }

  /** Append one point to each of several series at the same x: `pushAll(k, { ess: 0.9, khat: 0.3 })`; null or undefined values are skipped. */
  pushAll(x: number, values: Record<string, number | null | undefined>): void {
    for (const [id, y] of Object.entries(values)) if (y !== null && y !== undefined) this.push(id, x, y)
  }

  /** Show `picture` in the picture panel `panel` (replacing the previous one), with the next batch. */
  picture(panel: string, picture: LivePicture): void {
    const p = this.#layout.panels.find((q) => q.id === panel)
    if (!p || p.kind !== 'picture') throw new RangeError(`live: no picture panel '${panel}' in the layout`)
    this.#pictures.set(panel, wirePicture(picture))
    this.#pendingPictures.add(panel)
  }

  /** Set the status line (e.g. `'Jarzynski: iteration 120 / 8000'`), sent with the next batch. */
  status(text: string): void {
    this.#status = text
    this.#statusPending = true
  }

  /** The run is over: send what is pending, then `end` with `text` (pages stop listening). */
  end(text = 'run finished'): void {
    if (this.#ended !== null) return
    this.#status = text
    this.#statusPending = true
    this.flush()
    this.#ended = text
    this.#broadcast(event('end', { text }))
  }

  /** Send the pending points, pictures and status to every page now (done every `flushMs` anyway). */
  flush(): void {
    const s: Record<string, (number | null)[]> = {}
    let any = false
    for (const [id, b] of this.#series) {
      if (b.pending.length === 0) continue
      s[id] = b.pending
      b.pending = []
      any = true
    }
    let out = ''
    if (any) out += event('points', { s })
    for (const panel of this.#pendingPictures) out += event('picture', { panel, picture: this.#pictures.get(panel) })
    this.#pendingPictures.clear()
    if (this.#statusPending) out += event('status', { text: this.#status, done: this.#ended !== null })
    this.#statusPending = false
    if (out) this.#broadcast(out)
  }

  /** Stop: close every page's stream and the server. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    clearInterval(this.#ping)
    this.flush()
    for (const c of this.#clients) c.end()
    this.#clients.clear()
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      // Idle keep-alive connections would hold close() open.
      for (const s of this.#sockets) s.destroy()
    })
  }

  #broadcast(text: string): void {
    for (const c of this.#clients) c.write(text)
  }

  /** The whole state, for a page that connects now. */
  #snapshot(): string {
    let out = 'retry: 2000\n\n' + event('layout', this.#layout)
    const s: Record<string, (number | null)[]> = {}
    for (const [id, b] of this.#series) if (b.history.length > 0) s[id] = b.history
    if (Object.keys(s).length > 0) out += event('points', { s })
    for (const [panel, picture] of this.#pictures) out += event('picture', { panel, picture })
    out += event('status', { text: this.#status, done: this.#ended !== null })
    if (this.#ended !== null) out += event('end', { text: this.#ended })
    return out
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // Only pages on this machine, addressed as this machine (a DNS-rebinding page names another host).
    const host = req.headers.host ?? ''
    if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('forbidden: use http://127.0.0.1:PORT/\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n')
      return
    }
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // Everything is inline; nothing may be fetched from elsewhere.
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
      })
      res.end(req.method === 'HEAD' ? undefined : livePage())
      return
    }
    if (path === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      })
      if (req.method === 'HEAD') {
        res.end()
        return
      }
      res.socket?.setNoDelay(true)
      // Pending points go to the pages already connected first: the snapshot holds them (as
      // history), and the next batch must not send them to this page a second time.
      this.flush()
      res.write(this.#snapshot())
      this.#clients.add(res)
      req.on('close', () => this.#clients.delete(res))
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  }
}

/** One server-sent event: `event:` and a single `data:` line of JSON (JSON has no raw newlines). */
function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
}

/**
 * Start a {@link LiveServer} on 127.0.0.1 (a free port unless `port` is given); resolves once it
 * listens. Print {@link LiveServer.url} for the user; {@link LiveServer.close} stops it.
 */
export async function startLiveServer(options: LiveServerOptions = {}): Promise<LiveServer> {
  const port = options.port ?? 0
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`live server: port must be an integer in [0, 65535], got ${port}`)
  const flushMs = options.flushMs ?? 250
  if (!(flushMs >= 10 && flushMs <= 60_000)) throw new RangeError(`live server: flushMs must be in [10, 60000], got ${flushMs}`)
  const historyPoints = options.historyPoints ?? 4000
  if (!(Number.isInteger(historyPoints) && historyPoints >= 10)) throw new RangeError(`live server: historyPoints must be an integer >= 10, got ${historyPoints}`)
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return new LiveServer(server, { port, flushMs, historyPoints })
}
