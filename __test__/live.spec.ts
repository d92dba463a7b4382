/**
 * The live view (ts/experiments/live/): the server listens on loopback only, refuses other hosts,
 * and speaks well-formed server-sent events; the page is self-contained. Then `jarzyn gmm --live`
 * and `jarzyn mnist --live` in headless Chromium (puppeteer-core driving the system's browser:
 * `apt-get install chromium`; skipped with a message where none is found): the page fills every
 * plot as the run goes, and a screenshot is saved.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { startLiveServer, type LiveServer } from '../ts/experiments'
import { MAIN } from './cli-helpers'

// ---------------------------------------------------------------------------------------------
// Helpers

interface SseEvent {
  event: string
  data: unknown
}

/** GET `path` with a Host header; resolves with the response (body not read). */
function get(port: number, path: string, host = `127.0.0.1:${port}`, method = 'GET'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host } }, resolve)
    req.on('error', reject)
    req.end()
  })
}

async function body(res: IncomingMessage): Promise<string> {
  let s = ''
  res.setEncoding('utf8')
  for await (const chunk of res) s += chunk
  return s
}

/**
 * Parse a text/event-stream strictly as the server writes it: blocks separated by a blank line,
 * each either comments (`: ...`), a `retry: N`, or exactly `event: NAME` then one `data: JSON` line.
 * Throws on anything else, and on a trailing partial block unless `partial` is allowed.
 */
function parseSse(text: string, partial = false): SseEvent[] {
  const blocks = text.split('\n\n')
  const tail = blocks.pop() as string
  if (tail !== '' && !partial) throw new Error(`stream does not end with a blank line: ${JSON.stringify(tail.slice(0, 80))}`)
  const out: SseEvent[] = []
  for (const b of blocks) {
    const lines = b.split('\n')
    if (lines.every((l) => l.startsWith(':'))) continue
    if (lines.length === 1 && /^retry: \d+$/.test(lines[0])) continue
    if (lines.length !== 2 || !/^event: [a-z]+$/.test(lines[0]) || !lines[1].startsWith('data: ')) throw new Error(`malformed event block: ${JSON.stringify(b.slice(0, 120))}`)
    out.push({ event: lines[0].slice(7), data: JSON.parse(lines[1].slice(6)) })
  }
  return out
}

/** Read `/events` until `until(events)` holds (or the stream ends); returns the parsed events. */
async function readEvents(port: number, until: (e: SseEvent[]) => boolean, timeoutMs = 10_000): Promise<{ events: SseEvent[]; res: IncomingMessage; raw: string }> {
  const res = await get(port, '/events')
  res.setEncoding('utf8')
  let raw = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching events in ${timeoutMs} ms; got ${raw.slice(0, 300)}`)), timeoutMs)
    const check = (ended: boolean) => {
      let events: SseEvent[]
      try {
        events = parseSse(raw.slice(0, raw.lastIndexOf('\n\n') + 2))
      } catch (e) {
        clearTimeout(timer)
        reject(e)
        return
      }
      if (until(events) || ended) {
        clearTimeout(timer)
        resolve({ events, res, raw })
      }
    }
    res.on('data', (c: string) => {
      raw += c
      check(false)
    })
    res.on('end', () => check(true))
    res.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })
}

function layout(live: LiveServer): void {
  live.setLayout({
    title: 'test run',
    subtitle: 'a small layout',
    panels: [
      { kind: 'lines', id: 'a', title: 'A', yLabel: 'a', series: [{ id: 'a1', label: 'one' }, { id: 'a2', label: 'two', dashed: true }] },
      { kind: 'picture', id: 'pic', title: 'Picture' },
      { kind: 'picture', id: 'img', title: 'Image' },
    ],
  })
}

// A 1x1 PNG (a grey pixel).
const PNG_1x1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==', 'base64')

// ---------------------------------------------------------------------------------------------
// The server, without a browser

test('live server: listens on 127.0.0.1 only, refuses other hosts and methods, serves a self-contained page', async (t) => {
  const live = await startLiveServer()
  t.teardown(() => live.close())
  t.regex(live.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  t.is(live.url, `http://127.0.0.1:${live.port}/`)
  // Not reachable on any other address of this machine.
  const others = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && a.family === 'IPv4')
    .map((a) => a!.address)
  for (const addr of others) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: addr, port: live.port })
      s.once('connect', () => {
        s.destroy()
        resolve(false)
      })
      s.once('error', () => resolve(true))
    })
    t.true(refused, `${addr}:${live.port} must refuse connections`)
  }
  if (others.length === 0) t.log('no non-loopback IPv4 address here: only the bind address is checked')
  // A page under another host name (DNS rebinding) is refused; localhost is fine.
  t.is((await get(live.port, '/', 'evil.example')).statusCode, 403)
  t.is((await get(live.port, '/events', `attacker.test:${live.port}`)).statusCode, 403)
  t.is((await get(live.port, '/', `localhost:${live.port}`)).statusCode, 200)
  t.is((await get(live.port, '/', `127.0.0.1:${live.port}`, 'POST')).statusCode, 405)
  t.is((await get(live.port, '/nothing')).statusCode, 404)
  const res = await get(live.port, '/')
  t.is(res.statusCode, 200)
  t.regex(String(res.headers['content-type']), /^text\/html/)
  t.regex(String(res.headers['content-security-policy']), /default-src 'none'/)
  const html = await body(res)
  t.regex(html, /<canvas|getContext|createElementNS/)
  // Nothing fetched from elsewhere: no external script, style, font or image.
  t.notRegex(html, /<script[^>]+src=|<link|@import|url\(http|src="http|href="http/i)
  t.true(html.includes("new EventSource('events')"))
})

test('live server: well-formed server-sent events, batched points, pictures, status, end; late pages get the whole state', async (t) => {
  const live = await startLiveServer({ flushMs: 20 })
  t.teardown(() => live.close())
  layout(live)
  const first = readEvents(live.port, (e) => e.some((x) => x.event === 'end'))
  first.catch(() => {}) // awaited below; a failed assertion before then must not leave it unhandled
  // Let the page connect before anything is pushed (it must see batches arrive).
  for (let i = 0; i < 200 && live.clients === 0; i++) await new Promise((r) => setTimeout(r, 25))
  t.is(live.clients, 1)
  for (let k = 0; k < 50; k++) {
    live.push('a1', k, Math.sin(k))
    live.pushAll(k, { a2: k % 10 === 0 ? NaN : k / 50, nothing: null })
    if (k % 10 === 0) await new Promise((r) => setTimeout(r, 30))
  }
  live.picture('pic', {
    type: 'heatmap',
    xRange: [-1, 1],
    yRange: [0, 2],
    nx: 3,
    ny: 2,
    values: [0, 1, 2, 3, 4, Infinity],
    dots: { x: [0, 0.5], y: [1, 1.5], size: [1, 2] },
    caption: 'a map',
  })
  live.picture('img', { type: 'image', png: PNG_1x1 })
  live.status('halfway')
  await new Promise((r) => setTimeout(r, 60))
  live.end('all done')
  const { events, res } = await first
  t.is(res.statusCode, 200)
  t.regex(String(res.headers['content-type']), /^text\/event-stream/)
  t.is(res.headers['cache-control'], 'no-cache, no-store')
  t.is(events[0].event, 'layout')
  t.is((events[0].data as { title: string }).title, 'test run')
  const points = events.filter((e) => e.event === 'points')
  t.true(points.length >= 3, `points came in ${points.length} batches`)
  const a1: (number | null)[] = []
  const a2: (number | null)[] = []
  for (const p of points) {
    const s = (p.data as { s: Record<string, (number | null)[]> }).s
    a1.push(...(s.a1 ?? []))
    a2.push(...(s.a2 ?? []))
  }
  t.is(a1.length, 100)
  t.is(a1[2 * 7], 7)
  t.true(Math.abs((a1[2 * 7 + 1] as number) - Math.sin(7)) < 1e-5)
  t.is(a2[1], null, 'NaN is sent as null (a gap)')
  t.is(a2[2 * 3 + 1], 0.06)
  const pics = events.filter((e) => e.event === 'picture').map((e) => e.data as { panel: string; picture: Record<string, unknown> })
  const map = pics.find((p) => p.panel === 'pic')!.picture
  t.is(map.type, 'heatmap')
  t.deepEqual(map.values, [0, 1, 2, 3, 4, null])
  t.deepEqual((map.dots as { size: number[] }).size, [1, 2])
  const img = pics.find((p) => p.panel === 'img')!.picture
  t.is(img.src, `data:image/png;base64,${PNG_1x1.toString('base64')}`)
  t.true(events.some((e) => e.event === 'status' && (e.data as { text: string }).text === 'halfway'))
  const end = events[events.length - 1]
  t.deepEqual(end, { event: 'end', data: { text: 'all done' } })

  // A page connecting now gets the whole state at once, ending with `end`.
  const late = await readEvents(live.port, (e) => e.some((x) => x.event === 'end'))
  t.deepEqual(late.events.map((e) => e.event), ['layout', 'points', 'picture', 'picture', 'status', 'end'])
  const s = (late.events[1].data as { s: Record<string, (number | null)[]> }).s
  t.is(s.a1.length, 100)
  late.res.destroy()
  // close() ends the streams.
  const open = await get(live.port, '/events')
  const ended = new Promise<void>((resolve) => open.on('end', () => resolve()).resume())
  await live.close()
  await ended
  t.pass()
})

test('withLive: a body that fails (e.g. writing the report) ends the page with the error and closes the server', async (t) => {
  const { withLive } = await import('../ts/experiments/cli/args')
  const write = process.stderr.write
  process.stderr.write = (() => true) as typeof process.stderr.write
  let url = ''
  try {
    await t.throwsAsync(
      withLive(true, false, async (live) => {
        url = live!.url
        throw new Error('disk full')
      }),
      { message: 'disk full' },
    )
  } finally {
    process.stderr.write = write
  }
  const port = Number(new URL(url).port)
  const refused = await new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.on('connect', () => {
      c.destroy()
      resolve(false)
    })
    c.on('error', () => resolve(true))
  })
  t.true(refused, 'the server no longer listens')
})

test('live server: bad layouts and unknown ids are errors; long series are thinned evenly for late pages', async (t) => {
  const live = await startLiveServer({ historyPoints: 10, flushMs: 1000 })
  t.teardown(() => live.close())
  layout(live)
  t.throws(() => live.push('nope', 0, 1), { instanceOf: RangeError, message: /no series 'nope'/ })
  t.throws(() => live.picture('a', { type: 'image', png: PNG_1x1 }), { instanceOf: RangeError, message: /no picture panel 'a'/ })
  t.throws(() => live.picture('pic', { type: 'heatmap', xRange: [0, 1], yRange: [0, 1], nx: 2, ny: 2, values: [1, 2, 3] }), { instanceOf: RangeError })
  t.throws(() => live.setLayout({ title: 'x', panels: [{ kind: 'picture', id: 'p', title: '' }, { kind: 'picture', id: 'p', title: '' }] }), { message: /used twice/ })
  t.throws(
    () => live.setLayout({ title: 'x', panels: [{ kind: 'lines', id: 'p', title: '', series: [{ id: 's', label: '' }] }, { kind: 'lines', id: 'q', title: '', series: [{ id: 's', label: '' }] }] }),
    { message: /series id 's' is used twice/ },
  )
  await t.throwsAsync(() => startLiveServer({ port: 70000 }), { instanceOf: RangeError })
  for (let k = 0; k < 100; k++) live.push('a1', k, k)
  live.end()
  const { events } = await readEvents(live.port, (e) => e.some((x) => x.event === 'end'))
  const xs = ((events.find((e) => e.event === 'points')!.data as { s: Record<string, number[]> }).s.a1).filter((_, i) => i % 2 === 0)
  t.true(xs.length <= 20 && xs.length >= 5, `${xs.length} points kept`)
  t.is(xs[0], 0)
  const gaps = new Set(xs.slice(1).map((x, i) => x - xs[i]))
  t.is(gaps.size, 1, `evenly spaced: ${[...gaps]}`)
})

// ---------------------------------------------------------------------------------------------
// The page in headless Chromium

// JARZYN_CHROMIUM names the browser (and only it: a path that does not exist skips the test).
const CHROMIUM_CANDIDATES = process.env.JARZYN_CHROMIUM
  ? [process.env.JARZYN_CHROMIUM]
  : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']
const CHROMIUM = CHROMIUM_CANDIDATES.find((p) => existsSync(p))
const BROWSER_TEST = 'live page in headless Chromium: `jarzyn gmm --live-keep` fills every plot and the walkers picture during the run'
const MNIST_BROWSER_TEST = 'live page in headless Chromium: `jarzyn mnist --live-keep` fills the masses, weights and log Z plots and shows each method\'s walkers as images'

type T = import('ava').ExecutionContext

/** Headless Chromium with one page that records requests to other origins and script errors. */
async function openBrowser(t: T) {
  const { default: puppeteer } = await import('puppeteer-core')
  const browser = await puppeteer.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.setViewport({ width: 1260, height: 1000 })
  const foreign: string[] = []
  const errors: string[] = []
  let origin = ''
  page.on('request', (r) => {
    if (origin && !r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url())
  })
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  return { page, foreign, errors, setOrigin: (o: string) => (origin = o) }
}

/** `jarzyn ARGS` (the bin as npm links it), resolved once it prints its live address; killed at teardown. */
async function startLiveCli(t: T, args: string[]) {
  const cli = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const run = { cli, stdout: '', stderr: '', url: '', exited: new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code))) }
  cli.stdout.setEncoding('utf8').on('data', (c: string) => (run.stdout += c))
  t.teardown(() => {
    if (cli.exitCode === null) cli.kill('SIGKILL')
  })
  run.url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no live URL on stderr: ${run.stderr}`)), 30_000)
    cli.stderr.setEncoding('utf8').on('data', (c: string) => {
      run.stderr += c
      const m = /live: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(run.stderr)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    cli.on('exit', () => reject(new Error(`jarzyn ${args[0]} exited: ${run.stderr}`)))
  })
  return run
}

if (!CHROMIUM) {
  const msg = `no Chromium found (looked for ${CHROMIUM_CANDIDATES.join(', ')}; set JARZYN_CHROMIUM or run \`apt-get install -y chromium\`)`
  console.log(`live.spec: skipping the browser test: ${msg}`)
  test.skip(`${BROWSER_TEST} (skipped: ${msg})`, () => {})
  test.skip(`${MNIST_BROWSER_TEST} (skipped: ${msg})`, () => {})
} else {
  test.serial(BROWSER_TEST, async (t) => {
    t.timeout(180_000)
    // Kept after the test (the screenshot is for people to look at); the report folder is removed.
    const dir = mkdtempSync(join(tmpdir(), 'jarzyn-live-'))
    const out = join(dir, 'report')
    t.teardown(() => rmSync(out, { recursive: true, force: true }))
    const { page, foreign, errors, setOrigin } = await openBrowser(t)
    const args = ['gmm', '--method', 'all', '--dim', '10', '--walkers', '3000', '--data', '3000', '--iterations', '3000', '--threads', '1', '--resample', 'systematic:0.9', '--quiet', '--live-keep', '--out', out]
    const run = await startLiveCli(t, args)
    const { cli, exited, url } = run
    setOrigin(url)
    await page.goto(url)
    // N = 300 Jarzynski iterations arrived while the run goes on (the page's state is window.__live).
    const N = 300
    await page.waitForFunction(`(() => { const s = window.__live.series['ess.jarzynski']; return s !== undefined && s.x.length > 0 && s.x[s.x.length - 1] >= ${N} })()`, { timeout: 60_000, polling: 100 })
    const during = (await page.evaluate('({ ended: window.__live.ended, pointsEvents: window.__live.pointsEvents })')) as { ended: boolean; pointsEvents: number }
    t.log(`${N} iterations arrived; run ended: ${during.ended}, batches of points so far: ${during.pointsEvents}`)
    // Then the whole run (three methods), whose final state --live-keep keeps serving, and the last redraw.
    await page.waitForFunction('window.__live.ended && !window.__live.drawPending', { timeout: 150_000, polling: 200 })
    const final = (await page.evaluate('window.__live.pointsEvents')) as number
    t.true(final >= 3, `the page got ${final} batches of points: updated during the run`)
    const shot = join(dir, 'live-page.png')
    await page.screenshot({ path: shot, fullPage: true })
    console.log(`live.spec: screenshot of the live page: ${shot}`)
    t.log(`screenshot: ${shot}`)

    // Every series of every line panel has a path with data.
    const panels = (await page.evaluate(`Array.from(document.querySelectorAll('figure.panel[data-kind="lines"]')).map((fig) => ({
      id: fig.getAttribute('data-panel'),
      legend: Array.from(fig.querySelectorAll('.legend [data-series]')).map((e) => e.getAttribute('data-series')),
      paths: Array.from(fig.querySelectorAll('path[data-series]')).map((p) => ({
        series: p.getAttribute('data-series'),
        points: Number(p.getAttribute('data-points')),
        commands: (p.getAttribute('d') || '').split(/[ML]/).length - 1,
      })),
    }))`)) as { id: string; legend: string[]; paths: { series: string; points: number; commands: number }[] }[]
    t.deepEqual(panels.map((p) => p.id), ['weights', 'ess', 'khat', 'logz'])
    for (const p of panels) {
      t.true(p.legend.length >= 2, `${p.id}: legend`)
      t.deepEqual(p.paths.map((x) => x.series), p.legend, `${p.id}: one path per series`)
      for (const path of p.paths) {
        t.true(path.points >= 2 && path.commands === path.points, `${p.id}/${path.series}: ${path.points} points drawn`)
      }
    }
    const byId = Object.fromEntries(panels.flatMap((p) => p.paths.map((x) => [x.series, x.points])))
    t.true(byId['khat.jarzynski'] >= 50, `k-hat drawn at ${byId['khat.jarzynski']} iterations`)
    t.true(byId['ess.cd'] >= 100 && byId['w.pcd.0'] >= 100)

    // The walkers picture: a heat map (many colours, no blank plot area) with walkers drawn on it.
    // The walkers pictures (one per method): a heat map (many colours, no blank plot area) with
    // walkers drawn on it.
    for (const m of ['jarzynski', 'pcd', 'cd']) {
      const pic = (await page.evaluate(`(() => {
        const fig = document.querySelector('figure.panel[data-panel="walkers.${m}"]')
        const c = fig && fig.querySelector('canvas')
        if (!c) return null
        // The plot area, inside the margins (the axis labels are outside it).
        const d = c.getContext('2d').getImageData(70, 20, c.width - 140, c.height - 60).data
        const colours = new Set()
        let nonWhite = 0
        for (let i = 0; i < d.length; i += 4) {
          colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2])
          if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) nonWhite++
        }
        const cap = fig.querySelector('figcaption')
        return { dots: Number(c.getAttribute('data-dots')), colours: colours.size, nonWhite: nonWhite / (d.length / 4), caption: cap ? cap.textContent : '' }
      })()`)) as { dots: number; colours: number; nonWhite: number; caption: string } | null
      if (!pic) {
        t.fail(`${m}: no walkers picture`)
        continue
      }
      t.true(pic.dots >= 400, `${m}: ${pic.dots} walkers drawn`)
      t.true(pic.colours >= 50, `${m}: ${pic.colours} colours in the heat map`)
      t.true(pic.nonWhite > 0.6, `${m}: ${(100 * pic.nonWhite).toFixed(0)} % of the plot area is painted`)
      t.regex(pic.caption, /^Iteration 3000:/)
    }
    t.deepEqual(foreign, [], 'the page loads nothing from elsewhere')
    t.deepEqual(errors, [], 'no script errors')

    // Ctrl-C ends `--live-keep`; the report has the diagnostics too.
    cli.kill('SIGINT')
    t.is(await exited, 0, run.stderr)
    t.regex(run.stdout, /Jarzynski/)
    t.regex(run.stderr, /serving the final state/)
    const csv = readFileSync(join(out, 'series.csv'), 'utf8').split('\n')
    t.true(csv[0].endsWith(',khat,cess_fraction'))
    t.true(existsSync(join(out, 'khat.svg')))
  })
  test.serial(MNIST_BROWSER_TEST, async (t) => {
    t.timeout(180_000)
    const dir = mkdtempSync(join(tmpdir(), 'jarzyn-live-mnist-'))
    const { page, foreign, errors, setOrigin } = await openBrowser(t)
    const run = await startLiveCli(t, ['mnist', '--preset', 'smoke', '--method', 'all', '--quiet', '--live-keep'])
    setOrigin(run.url)
    await page.goto(run.url)
    // The whole smoke run (three methods), whose final state --live-keep keeps serving.
    await page.waitForFunction('window.__live.ended && !window.__live.drawPending', { timeout: 150_000, polling: 200 })
    const shot = join(dir, 'live-page-mnist.png')
    await page.screenshot({ path: shot, fullPage: true })
    console.log(`live.spec: screenshot of the MNIST live page: ${shot}`)
    const panels = (await page.evaluate(`Array.from(document.querySelectorAll('figure.panel[data-kind="lines"]')).map((fig) => ({
      id: fig.getAttribute('data-panel'),
      paths: Array.from(fig.querySelectorAll('path[data-series]')).map((p) => ({ series: p.getAttribute('data-series'), points: Number(p.getAttribute('data-points')) })),
    }))`)) as { id: string; paths: { series: string; points: number }[] }[]
    t.deepEqual(panels.map((p) => p.id), ['mass', 'weights', 'logz'])
    const points = Object.fromEntries(panels.flatMap((p) => p.paths.map((x) => [x.series, x.points])))
    // 20 updates measured every 5: 4 points per method and digit; the data's masses are two-point lines.
    for (const m of ['jarzynski', 'pcd', 'cd']) for (const d of [2, 3, 6]) t.is(points[`mass.${m}.${d}`], 4, `mass.${m}.${d}`)
    for (const d of [2, 3, 6]) t.is(points[`mass.data.${d}`], 2)
    for (const id of ['ess', 'khat', 'logz', 'ce']) t.is(points[id], 4, id)
    // Each method's walkers: a decoded PNG of 48 digits in 12 columns (4 rows).
    for (const m of ['jarzynski', 'pcd', 'cd']) {
      const img = (await page.evaluate(`(() => {
        const i = document.querySelector('figure.panel[data-panel="walkers.${m}"] img')
        return i ? { complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, src: i.getAttribute('src').slice(0, 22) } : null
      })()`)) as { complete: boolean; w: number; h: number; src: string } | null
      if (!img) {
        t.fail(`${m}: no walkers image`)
        continue
      }
      t.true(img.complete && img.w > 0 && img.h > 0, `${m}: image decoded (${img.w}x${img.h})`)
      t.is(img.src, 'data:image/png;base64,')
      t.true(img.w > 2 * img.h, `${m}: 12 columns by 4 rows (${img.w}x${img.h})`)
    }
    t.deepEqual(foreign, [], 'the page loads nothing from elsewhere')
    t.deepEqual(errors, [], 'no script errors')
    run.cli.kill('SIGINT')
    t.is(await run.exited, 0, run.stderr)
    t.is(run.stdout.trim().split('\n').length, 5, 'the table: a header, one line per method and a note')
  })
}
