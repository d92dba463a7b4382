/**
 * Zero-copy views of native memory: identity, two-way visibility, the no-argument observe() path,
 * aliasing inputs, and no allocation per step.
 */
import test from 'ava'

import { Sampler, fillNormals } from '../ts/index'
import { assertSameBits } from './bits'

function quadratic(x: Float32Array, e: Float32Array, g: Float32Array, d: number, shift: number): void {
  for (let i = 0; i < e.length; i++) {
    let u = 0
    for (let j = 0; j < d; j++) {
      const r = x[i * d + j] - shift
      u += 0.5 * r * r
      g[i * d + j] = r
    }
    e[i] = u
  }
}

test('views: right types and lengths, the same object on every access, backed by distinct memory', (t) => {
  const s = new Sampler({ walkers: 10, dim: 3, stepSize: 0.1, seed: 1, threads: 1 })
  t.true(s.positions instanceof Float32Array)
  t.true(s.logWeights instanceof Float64Array)
  t.true(s.energies instanceof Float32Array)
  t.true(s.gradients instanceof Float32Array)
  t.is(s.positions.length, 30)
  t.is(s.logWeights.length, 10)
  t.is(s.energies.length, 10)
  t.is(s.gradients.length, 30)
  t.is(s.positions, s.positions)
  t.is(s.logWeights, s.logWeights)
  t.is(s.energies, s.energies)
  t.is(s.gradients, s.gradients)
  const bufs = [s.positions.buffer, s.logWeights.buffer, s.energies.buffer, s.gradients.buffer]
  t.is(new Set(bufs).size, 4)
  // Writing one view leaves the others alone.
  s.positions.fill(1)
  t.true(s.gradients.every((v) => v === 0) && s.energies.every((v) => v === 0) && s.logWeights.every((v) => v === 0))
  s.dispose()
})

test('positions written from JS are what move() starts from; the core writes back into the same view', (t) => {
  const n = 20000
  const d = 2
  const h = 0.2
  const s = new Sampler({ walkers: n, dim: d, stepSize: h, seed: 3, threads: 2 })
  const pos = s.positions
  // Walker i at (i mod 7, -3): set from JS.
  for (let i = 0; i < n; i++) {
    pos[i * d] = i % 7
    pos[i * d + 1] = -3
  }
  const x0 = pos.slice()
  // A constant gradient (1, -2) everywhere: the drift is -h (1, -2).
  const g = new Float32Array(n * d)
  for (let i = 0; i < n; i++) {
    g[i * d] = 1
    g[i * d + 1] = -2
  }
  s.observe(new Float32Array(n), g)
  s.move()
  t.is(s.positions, pos, 'the view object did not change')
  // Displacement per coordinate: mean -h g_j, variance 2h; 5 SE bounds.
  for (const [j, gj] of [
    [0, 1],
    [1, -2],
  ]) {
    let m = 0
    let m2 = 0
    for (let i = 0; i < n; i++) {
      const dx = pos[i * d + j] - x0[i * d + j]
      m += dx
      m2 += dx * dx
    }
    m /= n
    const v = m2 / n - m * m
    t.true(Math.abs(m - -h * gj) < 5 * Math.sqrt((2 * h) / n), `coordinate ${j}: mean displacement ${m}`)
    // Var of the sample variance of a normal: 2 sigma^4 / n.
    t.true(Math.abs(v - 2 * h) < 5 * 2 * h * Math.sqrt(2 / n), `coordinate ${j}: displacement variance ${v} vs ${2 * h}`)
  }
  // The per-walker offsets written from JS survive the move (not reset or overwritten by the core).
  let offsetMean = 0
  for (let i = 0; i < n; i++) offsetMean += pos[i * d] - (i % 7)
  t.true(Math.abs(offsetMean / n + h) < 5 * Math.sqrt((2 * h) / n))
  s.dispose()
})

test('observe() with no arguments after writing s.energies / s.gradients equals observe(copies), bit for bit', (t) => {
  const n = 3001
  const d = 3
  const a = new Sampler({ walkers: n, dim: d, stepSize: 0.3, seed: 5, threads: 2 })
  const b = new Sampler({ walkers: n, dim: d, stepSize: 0.3, seed: 5, threads: 2 })
  const c = new Sampler({ walkers: n, dim: d, stepSize: 0.3, seed: 5, threads: 2 })
  for (const s of [a, b, c]) fillNormals(s.positions, { dim: d, seed: 6, stream: 'init' })
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  for (let k = 0; k < 6; k++) {
    if (k > 0) for (const s of [a, b, c]) s.move()
    const shift = 0.1 * k
    quadratic(a.positions, e, g, d, shift)
    const ra = a.observe(e, g)
    quadratic(b.positions, b.energies, b.gradients, d, shift)
    const rb = b.observe()
    // Mixed: energies in place, gradients copied, and the other way round.
    const ec = new Float32Array(n)
    const gc = new Float32Array(n * d)
    let rc
    if (k % 2) {
      quadratic(c.positions, c.energies, gc, d, shift)
      rc = c.observe(undefined, gc)
    } else {
      quadratic(c.positions, ec, c.gradients, d, shift)
      rc = c.observe(ec)
    }
    t.deepEqual(rb, ra)
    t.deepEqual(rc, ra)
    assertSameBits(t, b.logWeights, a.logWeights, `iteration ${k}: in-place logWeights`)
    assertSameBits(t, c.logWeights, a.logWeights, `iteration ${k}: mixed logWeights`)
    assertSameBits(t, b.positions, a.positions, `iteration ${k}: positions`)
    // observe(e, g) copies into the views.
    assertSameBits(t, a.energies, e, `iteration ${k}: energies copied into the view`)
    assertSameBits(t, a.gradients, g, `iteration ${k}: gradients copied into the view`)
  }
  t.true(a.logWeights.some((v) => v !== 0))
  for (const s of [a, b, c]) s.dispose()
})

test('inputs that are subarrays, SharedArrayBuffer-backed, or alias the sampler\'s own views are read correctly', (t) => {
  const n = 500
  const d = 2
  const mk = () => {
    const s = new Sampler({ walkers: n, dim: d, stepSize: 0.25, seed: 8, threads: 2 })
    fillNormals(s.positions, { dim: d, seed: 9, stream: 'init' })
    return s
  }
  const ref = mk()
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  const step = (s: Sampler, observe: (e: Float32Array, g: Float32Array) => void) => {
    quadratic(s.positions, e, g, d, 0.3)
    observe(e, g)
    s.move()
    quadratic(s.positions, e, g, d, 0.5)
    observe(e, g)
  }
  step(ref, (e, g) => ref.observe(e, g))
  // A view at a byte offset inside a larger buffer.
  const off = mk()
  step(off, (e, g) => {
    const eb = new Float32Array(n + 13)
    eb.set(e, 13)
    const gb = new Float32Array(n * d + 5)
    gb.set(g, 5)
    off.observe(eb.subarray(13), gb.subarray(5))
  })
  assertSameBits(t, off.logWeights, ref.logWeights, 'subarray inputs')
  // SharedArrayBuffer-backed inputs.
  const sab = mk()
  step(sab, (e, g) => {
    const es = new Float32Array(new SharedArrayBuffer(n * 4))
    const gs = new Float32Array(new SharedArrayBuffer(n * d * 4))
    es.set(e)
    gs.set(g)
    sab.observe(es, gs)
  })
  assertSameBits(t, sab.logWeights, ref.logWeights, 'SharedArrayBuffer inputs')
  // Energies written into a slice of the sampler's own gradients view, gradients in place: the
  // aliasing path copies before the core writes.
  const alias = mk()
  step(alias, (e, g) => {
    alias.gradients.set(g)
    const gv = alias.gradients.slice()
    const ev = alias.gradients.subarray(0, n)
    ev.set(e)
    alias.observe(ev, gv)
  })
  assertSameBits(t, alias.logWeights, ref.logWeights, 'energies aliasing the gradients view')
  for (const s of [ref, off, sab, alias]) s.dispose()
})

test('s.positions as the gradient argument is copied, not a crash', (t) => {
  const n = 100
  const d = 3
  const a = new Sampler({ walkers: n, dim: d, stepSize: 0.1, seed: 2, threads: 2 })
  const b = new Sampler({ walkers: n, dim: d, stepSize: 0.1, seed: 2, threads: 2 })
  for (const s of [a, b]) fillNormals(s.positions, { dim: d, seed: 3, stream: 'init' })
  const e = new Float32Array(n).fill(0.5)
  for (let k = 0; k < 3; k++) {
    // grad U(x) = x for U = |x|^2 / 2: the positions themselves.
    for (let i = 0; i < n; i++) {
      let u = 0
      for (let j = 0; j < d; j++) u += 0.5 * a.positions[i * d + j] ** 2
      e[i] = u
    }
    t.notThrows(() => a.observe(e, a.positions))
    b.observe(e, b.positions.slice())
    assertSameBits(t, a.logWeights, b.logWeights, `iteration ${k}: logWeights`)
    assertSameBits(t, a.gradients, a.positions, `iteration ${k}: gradients hold a copy of the positions`)
    t.not(a.gradients, a.positions)
    a.move()
    b.move()
    assertSameBits(t, a.positions, b.positions, `iteration ${k}: positions`)
  }
  // The gradients view itself as the energies argument has the wrong length: a clean RangeError.
  t.throws(() => a.observe(a.gradients), { instanceOf: RangeError })
  a.dispose()
  b.dispose()
})

test('transferring a view\'s buffer does not detach it from the sampler', (t) => {
  const s = new Sampler({ walkers: 8, dim: 2, stepSize: 0.1, seed: 4, threads: 1 })
  s.positions.fill(2)
  const pos = s.positions
  // External buffers of native memory cannot be detached: V8 either refuses or copies.
  let copy: ArrayBuffer | undefined
  try {
    copy = structuredClone(pos.buffer as ArrayBuffer, { transfer: [pos.buffer as ArrayBuffer] })
  } catch (e) {
    t.true(e instanceof Error)
  }
  t.is(s.positions, pos)
  t.is(pos.length, 16)
  t.true(pos.every((v) => v === 2))
  if (copy !== undefined) t.true(new Float32Array(copy).every((v) => v === 2))
  s.observe(new Float32Array(8), new Float32Array(16))
  s.move()
  t.true(pos.some((v) => v !== 2), 'the view still shows the core\'s moves')
  s.dispose()
})

test('views obtained before dispose() stay readable afterwards (the memory lives as long as the view)', (t) => {
  const s = new Sampler({ walkers: 64, dim: 4, stepSize: 0.1, seed: 12, threads: 2 })
  fillNormals(s.positions, { dim: 4, seed: 1, stream: 'init' })
  s.observe(new Float32Array(64).fill(1), new Float32Array(256).fill(0.5))
  s.move()
  s.observe(new Float32Array(64).fill(2), new Float32Array(256).fill(0.25))
  const views = [s.positions, s.logWeights, s.energies, s.gradients]
  const copies = views.map((v) => v.slice())
  s.dispose()
  t.true(s.disposed)
  for (const [i, v] of views.entries()) {
    assertSameBits(t, v, copies[i], `view ${i} after dispose`)
    v[0] = 42 // still writable, harmless
    t.is(v[0], 42)
  }
})

test('no step allocates: 20k move/observe steps keep arrayBuffers and RSS flat', (t) => {
  const n = 256
  const d = 4
  const s = new Sampler({ walkers: n, dim: d, stepSize: 0.05, seed: 10, threads: 2 })
  fillNormals(s.positions, { dim: d, seed: 11, stream: 'init' })
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  const out = new Float64Array(n)
  const iterate = (k: number) => {
    // Alternate the zero-copy path and the copying path.
    if (k % 2) {
      quadratic(s.positions, s.energies, s.gradients, d, 0)
      s.observe()
    } else {
      quadratic(s.positions, e, g, d, 0)
      s.observe(e, g)
    }
    s.normalizedWeights(out)
    s.ess()
    s.move()
  }
  quadratic(s.positions, e, g, d, 0)
  s.observe(e, g)
  s.move()
  for (let k = 0; k < 2000; k++) iterate(k)
  const base = process.memoryUsage()
  let maxAb = 0
  let maxRss = 0
  for (let k = 0; k < 20000; k++) {
    iterate(k)
    if (k % 2000 === 1999) {
      const m = process.memoryUsage()
      maxAb = Math.max(maxAb, m.arrayBuffers - base.arrayBuffers)
      maxRss = Math.max(maxRss, m.rss - base.rss)
    }
  }
  t.log(`arrayBuffers growth ${(maxAb / 2 ** 20).toFixed(2)} MiB, RSS growth ${(maxRss / 2 ** 20).toFixed(2)} MiB`)
  // One N x d Float32Array per step would be 80 MiB over the loop; a leak of it would show in RSS.
  t.true(maxAb < 2 * 2 ** 20, `arrayBuffers grew by ${maxAb} bytes`)
  t.true(maxRss < 16 * 2 ** 20, `RSS grew by ${maxRss} bytes`)
  t.is(s.steps, 22001)
  s.dispose()
})
