/**
 * Samplers on a GPU: the CPU and the CUDA walkers agree, and the host views follow the device.
 *
 * Skipped when `cudaStatus().available` is false. `npm run test:fake-cuda` runs them on the fake
 * CUDA driver of crates/jarzyn-cuda-emu: the real CUDA backend with its kernels emulated on the CPU
 * (same libm as the CPU code, so only the device's summation orders differ), which is how they run
 * in CI. Positions are meant to be bit-identical to the CPU after moves with the same gradients;
 * log-weights agree to round-off (1e-12 relative); resampling on the device may pick a different
 * ancestor where round-off moves a weight across a boundary (at most 1 % of them here); the native
 * mixture evaluated on the device agrees to round-off, so training runs are compared with a
 * relative tolerance (1e-6).
 */
import test from 'ava'

import { Sampler, Trainer, cudaStatus, fillNormals } from '../ts/index'
import type { SamplerOptions } from '../ts/index'
import { throwsJarzyn } from './helpers'
import { JsGaussianEnergy, gmmTrainerOptions, smallGmm, tempDir } from './train-helpers'
import { assertSameBits } from './bits'

const status = cudaStatus()

// Under scripts/fake-cuda.mjs (`npm run test:fake-cuda`) the `cuda` tests run the real CUDA backend
// on the fake CUDA driver of crates/jarzyn-cuda-emu (the kernels emulated on the CPU): insist on it.
if (process.env.JZ_FAKE_CUDA === '1') {
  test('the fake CUDA driver is in use', (t) => {
    t.true(status.available, status.reason)
    t.is(status.name, 'jarzyn emulated GPU')
  })
}

/** Tests that need a GPU (or the fake driver). */
const gpuTest = status.available ? test : test.skip

/** A sampler on the GPU. */
function deviceSampler(opts: Omit<SamplerOptions, 'device'>): Sampler {
  return new Sampler({ ...opts, device: 'cuda' })
}

/** Largest relative difference |a - b| / max(|a|, |b|, tiny), with equal infinities counting 0. */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue
    const r = Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), Math.abs(b[i]), 1e-300)
    if (!(r <= m)) m = r
  }
  return m
}

/** Largest |a - b|, with equal values (infinities included) counting 0. */
function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue
    const d = Math.abs(a[i] - b[i])
    if (!(d <= m)) m = d
  }
  return m
}

/** Within `rel` of each other. */
function assertNear(t: import('ava').ExecutionContext, got: Float32Array | Float64Array, want: Float32Array | Float64Array, what: string, rel = 1e-6) {
  t.true(maxRel(got, want) < rel, `${what}: max relative difference ${maxRel(got, want)}`)
}

/**
 * Ancestors of the same resampling on the CPU and the device: equal but for at most 1 %. Returns
 * which walkers have the same ancestor.
 */
function sameAncestors(t: import('ava').ExecutionContext, dev: Uint32Array, cpu: Uint32Array): boolean[] {
  const same = Array.from(cpu, (a, i) => dev[i] === a)
  const differ = same.filter((v) => !v).length
  t.true(differ <= Math.ceil(cpu.length / 100), `${differ} of ${cpu.length} ancestors differ`)
  return same
}

/** Rows (walkers) of `got` and `want` where `rows[i]`, bit for bit. */
function assertSameRows(t: import('ava').ExecutionContext, got: Float32Array | Float64Array, want: Float32Array | Float64Array, width: number, rows: boolean[], what: string) {
  const pick = (a: Float32Array | Float64Array) => {
    const out = new (a.constructor as Float64ArrayConstructor)(rows.filter(Boolean).length * width)
    let o = 0
    rows.forEach((keep, i) => {
      if (keep) for (let c = 0; c < width; c++) out[o++] = a[i * width + c]
    })
    return out
  }
  assertSameBits(t, pick(got), pick(want), what)
}

/** Log-weights: 1e-12 relative. */
function assertWeights(t: import('ava').ExecutionContext, got: Float64Array, want: Float64Array, what: string) {
  t.true(maxRel(got, want) < 1e-12, `${what}: max relative difference ${maxRel(got, want)}`)
}

const N = 257
const D = 3
const base = { walkers: N, dim: D, stepSize: 0.1, seed: 2024, threads: 2 }

/** U = |x - m|^2 / 2 at the sampler's positions (read through the getter, as users do). */
function quadratic(s: Sampler, m: number, e: Float32Array, g: Float32Array) {
  e.fill(0)
  const x = s.positions
  for (let i = 0; i < s.walkers * s.dim; i++) {
    g[i] = x[i] - m
    e[(i / s.dim) | 0] += 0.5 * g[i] * g[i]
  }
}

/** The same schedule on any sampler: exact-ish start written through the view, then moves, observations, resamplings. */
function schedule(s: Sampler, steps: number, resample: 'maybe' | 'always' | 'never' = 'maybe') {
  fillNormals(s.positions, { dim: s.dim, seed: 17, stream: 'init' })
  const e = new Float32Array(s.walkers)
  const g = new Float32Array(s.walkers * s.dim)
  quadratic(s, 0, e, g)
  s.observe(e, g)
  for (let k = 1; k <= steps; k++) {
    s.move()
    quadratic(s, 0.04 * k, e, g)
    s.observe(e, g)
    if (resample === 'maybe') s.maybeResample({ essFraction: 0.8 })
    else if (resample === 'always') s.resample('residual')
  }
}

gpuTest(`device is 'cuda' with its deviceInfo; dispose frees it, views stay readable`, (t) => {
  const s = deviceSampler(base)
  t.is(s.device, 'cuda')
  t.is(s.fallbackReason, null)
  const info = s.deviceInfo!
  t.is(typeof info.name, 'string')
  t.regex(info.computeCapability, /^\d+\.\d+$/)
  t.regex(info.driverVersion, /^\d+\.\d+$/)
  t.is(info.name, status.name!)
  t.true(info.totalMemory > 0)
  schedule(s, 3)
  const x = s.positions
  const copy = x.slice()
  s.dispose()
  t.deepEqual(x, copy, 'views stay readable after dispose')
  throwsJarzyn(t, () => s.move(), Error, 'ERR_JARZYN_DISPOSED')
  throwsJarzyn(t, () => s.positions, Error, 'ERR_JARZYN_DISPOSED')
})

gpuTest(`CPU and device agree: positions bit for bit after moves, log-weights, energies, gradients, log Z; resampling`, (t) => {
  const cpu = new Sampler(base)
  const dev = deviceSampler(base)
  // Without resampling along the way (ancestors may differ at round-off boundaries), then one
  // resampling checked row by row.
  schedule(cpu, 40, 'never')
  schedule(dev, 40, 'never')
  t.is(dev.resamplings, cpu.resamplings)
  t.is(dev.steps, 40)
  assertSameBits(t, dev.positions, cpu.positions, 'positions')
  assertSameBits(t, dev.energies, cpu.energies, 'energies')
  assertSameBits(t, dev.gradients, cpu.gradients, 'gradients')
  assertWeights(t, dev.logWeights, cpu.logWeights, 'log-weights')
  const [a, b] = [dev.summary(), cpu.summary()]
  t.true(Math.abs(a.ess - b.ess) <= 1e-9 * b.ess, `ESS ${a.ess} vs ${b.ess}`)
  t.true(Math.abs(dev.logNormalizerRatio() - cpu.logNormalizerRatio()) <= 1e-12, 'log Z ratio')
  assertWeights(t, dev.normalizedWeights(), cpu.normalizedWeights(), 'normalised weights')
  const ws = dev.weightsAndSummary()
  assertWeights(t, ws.weights, cpu.normalizedWeights(), 'weightsAndSummary')
  for (const scheme of ['systematic', 'residual'] as const) {
    const rows = sameAncestors(t, dev.resample(scheme), cpu.resample(scheme))
    assertSameRows(t, dev.positions, cpu.positions, D, rows, `${scheme}: positions of walkers with the same ancestor`)
    assertSameRows(t, dev.gradients, cpu.gradients, D, rows, `${scheme}: gradients of walkers with the same ancestor`)
    t.true(dev.logWeights.every((v) => v === 0))
    t.true(Math.abs(dev.logNormalizerRatio() - cpu.logNormalizerRatio()) <= 1e-12, `${scheme}: log Z ratio`)
  }
})

gpuTest(`views follow the device after move, observe, resample and reinitialize (read through the getters)`, (t) => {
  const cpu = new Sampler(base)
  const dev = deviceSampler(base)
  for (const s of [cpu, dev]) schedule(s, 2, 'never')
  let rows = new Array<boolean>(N).fill(true)
  const same = (what: string) => {
    assertSameRows(t, dev.positions, cpu.positions, D, rows, `${what}: positions`)
    assertSameRows(t, dev.energies, cpu.energies, 1, rows, `${what}: energies`)
    assertSameRows(t, dev.gradients, cpu.gradients, D, rows, `${what}: gradients`)
    if (rows.every(Boolean)) assertWeights(t, dev.logWeights, cpu.logWeights, `${what}: log-weights`)
  }
  same('after observe')
  for (const s of [cpu, dev]) s.move()
  t.true(dev.positions.some((v, i) => v !== cpu.readView('positions')[i]) === false)
  same('after move')
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  for (const s of [cpu, dev]) {
    quadratic(s, 0.5, e, g)
    s.observe(e, g)
  }
  same('after observe with caller arrays')
  const anc = [cpu, dev].map((s) => s.resample('multinomial'))
  rows = sameAncestors(t, anc[1], anc[0])
  same('after resample')
  t.true(dev.logWeights.every((a) => a === 0), 'A = 0 after resampling')
  for (const s of [cpu, dev]) s.reinitialize()
  same('after reinitialize')
  // Reading a view again between operations copies nothing new and changes nothing.
  const x1 = dev.positions
  const x2 = dev.positions
  t.is(x1, x2, 'the same view object')
})

gpuTest(`writes through the views reach the device: positions before the first observe, zero-copy observe(), log-weights`, (t) => {
  const cpu = new Sampler(base)
  const dev = deviceSampler(base)
  for (const s of [cpu, dev]) {
    // Positions written before the first observation, energies and gradients written into the views.
    fillNormals(s.positions, { dim: D, seed: 3, stream: 'init' })
    quadratic(s, 0, s.energies, s.gradients)
    s.observe()
    s.move()
    quadratic(s, 0.3, s.energies, s.gradients)
    s.observe()
  }
  assertSameBits(t, dev.positions, cpu.positions, 'positions')
  assertWeights(t, dev.logWeights, cpu.logWeights, 'log-weights')
  // observe() with no arguments and untouched views re-observes the last observation, as on the CPU.
  for (const s of [cpu, dev]) s.observe()
  assertWeights(t, dev.logWeights, cpu.logWeights, 'log-weights after a repeated observe()')
  // Log-weights written from JavaScript are what the next summary sees.
  for (const s of [cpu, dev]) {
    const a = s.logWeights
    for (let i = 0; i < N; i++) a[i] = -0.01 * (i % 17)
    a[5] = -Infinity
  }
  const [sd, sc] = [dev.summary(), cpu.summary()]
  t.is(sd.zeroWeight, 1)
  t.true(Math.abs(sd.ess - sc.ess) <= 1e-9 * sc.ess, `ESS ${sd.ess} vs ${sc.ess}`)
  t.is(dev.normalizedWeights()[5], 0)
  // And after a reinitialize, new positions written through the view are observed.
  for (const s of [cpu, dev]) {
    s.reinitialize()
    s.positions.fill(0.25)
    quadratic(s, 0, s.energies, s.gradients)
    s.observe()
    s.move()
  }
  assertSameBits(t, dev.positions, cpu.positions, 'positions moved from the written ones')
})

gpuTest(`copies between the device and the views: stale views once per read, written views once per operation`, (t) => {
  const dev = deviceSampler(base)
  const cpu = new Sampler(base)
  t.deepEqual(cpu.viewTraffic(), { down: 0, up: 0 }, 'none on the CPU')
  t.deepEqual(dev.viewTraffic(), { down: 0, up: 0 }, 'a new sampler: views and device are both zero')
  const X = N * D * 4
  const delta = (f: () => void) => {
    const a = dev.viewTraffic()
    f()
    const b = dev.viewTraffic()
    return { down: b.down - a.down, up: b.up - a.up }
  }
  // Positions written before the first observation: sent up once, at the observation.
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  t.deepEqual(delta(() => fillNormals(dev.positions, { dim: D, seed: 1, stream: 'init' })), { down: 0, up: 0 })
  t.deepEqual(delta(() => quadratic(dev, 0, e, g)), { down: 0, up: 0 }, 'reads between operations copy nothing')
  t.deepEqual(delta(() => dev.observe(e, g)), { down: 0, up: X })
  // A JavaScript-energy iteration: the moved positions come down once; nothing goes up.
  t.deepEqual(
    delta(() => {
      for (let k = 0; k < 5; k++) {
        dev.move()
        quadratic(dev, 0.1 * k, e, g)
        quadratic(dev, 0.1 * k, e, g)
        dev.observe(e, g)
        dev.maybeResample({ essFraction: 0.1 })
      }
    }),
    { down: 5 * X, up: 0 },
  )
  // Summaries read nothing through the views; a written log-weights view goes up once.
  t.deepEqual(delta(() => dev.ess()), { down: 0, up: 0 })
  t.deepEqual(delta(() => void dev.logWeights), { down: N * 8, up: 0 })
  t.deepEqual(delta(() => dev.ess()), { down: 0, up: N * 8 })
  t.deepEqual(delta(() => dev.ess()), { down: 0, up: 0 })
  // The library's own reads do not count as writes.
  t.deepEqual(delta(() => void dev.readView('gradients')), { down: X, up: 0 })
  t.deepEqual(delta(() => dev.move()), { down: 0, up: 0 })
})

gpuTest(`positions written between move() and observe() are dropped (the device refuses them) and the view is refreshed`, (t) => {
  const dev = deviceSampler(base)
  schedule(dev, 1, 'never')
  dev.move()
  const moved = dev.positions.slice()
  dev.positions[0] = 1e6
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  dev.observe(e, g)
  t.is(dev.positions[0], moved[0], 'the device value, not the dropped write')
  assertSameBits(t, dev.positions, moved, 'positions')
})

for (const backwardKernel of ['next', 'current'] as const) gpuTest(`Trainer with the native Gaussian mixture (on the device, backward kernel '${backwardKernel}'): the CPU run's parameters, walkers, log-weights and stats`, async (t) => {
  const g = smallGmm({ dim: 3, n: 300 })
  // On a GPU without resampling: a resampling decision flipped by round-off would end the comparison.
  const opts = { walkers: 300, resample: false as const, backwardKernel }
  const cpu = new Trainer(gmmTrainerOptions(g, { ...opts, device: 'cpu' }))
  const dev = new Trainer(gmmTrainerOptions(g, { ...opts, device: 'cuda' }))
  t.is(dev.device, 'cuda')
  t.is(dev.metadata().device, 'cuda')
  const stats = [[], []] as { logZ: number | null; ess: number; resampled: boolean }[][]
  for (const [i, tr] of [cpu, dev].entries()) for await (const s of tr.run({ iterations: 40 })) stats[i].push(s)
  const logZ = stats.map((st) => Float64Array.from(st, (s) => s.logZ!))
  // The fake CUDA driver (crates/jarzyn-cuda-emu, same libm as the CPU) measures 2.6e-9 after 40
  // iterations: the device's summation order alone; 1e-7 leaves room for CUDA's libm.
  t.true(maxRel(logZ[1], logZ[0]) < 1e-7, `log Z: ${maxRel(logZ[1], logZ[0])}`)
  assertNear(t, dev.energy.getParams(), cpu.energy.getParams(), 'parameters')
  assertNear(t, dev.samplers[0].positions, cpu.samplers[0].positions, 'walkers', 1e-4)
  // Log-weights near 0 make a relative comparison meaningless: 1e-6 absolute on a GPU (the fake
  // CUDA driver measures a few 1e-7 after 40 iterations; see the checkpoint test).
  t.true(maxAbs(dev.samplers[0].logWeights, cpu.samplers[0].logWeights) < 1e-6, `log-weights: max difference ${maxAbs(dev.samplers[0].logWeights, cpu.samplers[0].logWeights)}`)
  cpu.dispose()
  dev.dispose()
})

gpuTest(`Trainer with a JavaScript energy (views written, observe()), noise init with burn-in, PCD, CD resets and the mini-batch variant`, async (t) => {
  const g = smallGmm({ dim: 2, n: 160 })
  // On a GPU the runs that resample (mini-batch, with the default ESS threshold) may part at a
  // round-off boundary; the others are compared to 1e-6.
  const runs: [string, (device: 'cpu' | 'cuda') => Trainer][] = [
    ['js energy, noise + burn-in', (device) => new Trainer({ energy: new JsGaussianEnergy(2, [0.5, -0.5]), data: g.data, walkers: 160, stepSize: 0.05, seed: 5, threads: 2, init: 'noise', burnIn: 3, optimizer: { type: 'sgd', lr: 0.05 }, device })],
    ["js energy, backward kernel 'current'", (device) => new Trainer({ energy: new JsGaussianEnergy(2, [0.5, -0.5]), data: g.data, walkers: 160, stepSize: 0.05, seed: 5, threads: 2, backwardKernel: 'current', resample: false, optimizer: { type: 'sgd', lr: 0.05 }, device })],
    ['pcd', (device) => new Trainer(gmmTrainerOptions(g, { walkers: 160, method: 'pcd', device }))],
    ['cd', (device) => new Trainer(gmmTrainerOptions(g, { walkers: 160, method: 'cd', cdReset: 3, device }))],
    ['mini-batch', (device) => new Trainer(gmmTrainerOptions(g, { walkers: 160, minibatch: { batches: 4, mcmcSteps: 2 }, device, resample: false as const }))],
  ]
  for (const [label, make] of runs) {
    const cpu = make('cpu')
    const dev = make('cuda')
    t.is(dev.device, 'cuda', label)
    for (const tr of [cpu, dev]) for await (const _ of tr.run({ iterations: 13 })) void _
    assertNear(t, dev.energy.getParams(), cpu.energy.getParams(), `${label}: parameters`)
    dev.samplers.forEach((s, b) => assertNear(t, s.positions, cpu.samplers[b].positions, `${label}: walkers of group ${b}`, 1e-4))
    cpu.dispose()
    dev.dispose()
  }
})

for (const backwardKernel of ['next', 'current'] as const) gpuTest(`weight diagnostics on the device (backward kernel '${backwardKernel}'): the views read between the native mixture's iterations are fresh, and k-hat and CESS match the CPU's`, async (t) => {
  const g = smallGmm({ dim: 3, n: 300 })
  // No resampling: a decision flipped by round-off would end the comparison.
  const opts = { walkers: 300, resample: false as const, diagnosticsEvery: 1, backwardKernel }
  const cpu = new Trainer(gmmTrainerOptions(g, { ...opts, device: 'cpu' }))
  const dev = new Trainer(gmmTrainerOptions(g, { ...opts, device: 'cuda' }))
  t.is(dev.device, 'cuda')
  for (let k = 0; k < 20; k++) {
    const a = cpu.step()
    const b = dev.step()
    // The trainer's own calls run outside the Sampler's methods: a stale mirror would show here.
    t.true(maxAbs(dev.samplers[0].readView('logWeights'), cpu.samplers[0].logWeights) < 1e-6, `iteration ${k}: log-weights read between iterations`)
    t.true(a.khat === b.khat || Math.abs((a.khat as number) - (b.khat as number)) < 1e-4, `iteration ${k}: k-hat ${b.khat} vs ${a.khat}`)
    t.true(Math.abs((a.cess as number) - (b.cess as number)) < 1e-6 * 300, `iteration ${k}: CESS ${b.cess} vs ${a.cess}`)
  }
  cpu.dispose()
  dev.dispose()
})

gpuTest(`checkpoints: a device run saved and resumed (on the device or on the CPU) continues as the straight run`, async (t) => {
  const g = smallGmm({ dim: 3, n: 200 })
  const dir = tempDir(t)
  const noResample = { resample: false as const }
  const straight = new Trainer(gmmTrainerOptions(g, { ...noResample, device: 'cpu' }))
  for await (const _ of straight.run({ iterations: 30 })) void _
  const first = new Trainer(gmmTrainerOptions(g, { ...noResample, device: 'cuda' }))
  for await (const _ of first.run({ iterations: 15 })) void _
  first.save(`${dir}/a.ckpt`)
  for (const device of ['cuda', 'cpu'] as const) {
    const resumed = Trainer.resume(`${dir}/a.ckpt`, gmmTrainerOptions(g, { ...noResample, device }))
    t.is(resumed.device, device)
    for await (const _ of resumed.run({ iterations: 15 })) void _
    assertNear(t, resumed.energy.getParams(), straight.energy.getParams(), `resumed on ${device}: parameters`)
    // Log-weights to 1e-6 absolute on a GPU (an absolute error on a log-weight is a relative one on
    // the weight): the device's round-off over 30 training iterations moves a log-weight of
    // -0.0175 by 3.3e-7 on the fake CUDA driver (crates/jarzyn-cuda-emu), 1.9e-5 relative.
    t.true(maxAbs(resumed.samplers[0].logWeights, straight.samplers[0].logWeights) < 1e-6, `resumed on ${device}: log-weights: max difference ${maxAbs(resumed.samplers[0].logWeights, straight.samplers[0].logWeights)}`)
    assertNear(t, resumed.samplers[0].positions, straight.samplers[0].positions, `resumed on ${device}: walkers`, 1e-4)
    resumed.dispose()
  }
  first.dispose()
  straight.dispose()
})
