/**
 * The `device` option without a GPU: `cudaStatus()`, the fallback of `device: 'cuda'` to the CPU
 * (one warning per reason, the reason on the sampler, the CPU's bits), `'auto'` staying silent,
 * invalid values, and the option threaded through Trainer and the GMM experiment.
 *
 * Where a usable GPU is present the fallback tests skip (the GPU runs instead); the GPU's own
 * tests are in device-cuda.spec.ts.
 */
import test from 'ava'

import { CUDA_AUTO_MIN_ELEMENTS, DEVICES, Sampler, Trainer, cudaStatus, fillNormals } from '../ts/index'
import { PAPER_GMM_CONFIG, runGmmExperiment } from '../ts/experiments'
import type { SamplerDevice } from '../ts/index'
import { throwsJarzyn } from './helpers'
import { gmmTrainerOptions, smallGmm } from './train-helpers'
import { assertSameBits } from './bits'

const status = cudaStatus()
/** Tests of the fallback: only where CUDA cannot run (everywhere we test, so far). */
const noCuda = status.available ? test.serial.skip : test.serial

/** Warnings emitted while `f` runs (they are delivered on the next tick). */
async function warningsDuring(f: () => void): Promise<Error[]> {
  const seen: Error[] = []
  const on = (w: Error) => seen.push(w)
  process.on('warning', on)
  try {
    f()
    await new Promise((r) => setImmediate(r))
  } finally {
    process.off('warning', on)
  }
  return seen
}

const fallbackWarnings = (ws: Error[]) => ws.filter((w) => (w as Error & { code?: string }).code === 'JARZYN_CUDA_FALLBACK')

/** A short weighted run with resampling through the public API; returns the sampler. */
function run(device: SamplerDevice | undefined, n = 300, d = 3): Sampler {
  const s = new Sampler({ walkers: n, dim: d, stepSize: 0.1, seed: 99, threads: 2, ...(device === undefined ? {} : { device }) })
  fillNormals(s.positions, { dim: d, seed: 5, stream: 'init' })
  const e = new Float32Array(n)
  const g = new Float32Array(n * d)
  const evaluate = (m: number) => {
    e.fill(0)
    const x = s.positions
    for (let i = 0; i < n * d; i++) {
      g[i] = x[i] - m
      e[(i / d) | 0] += 0.5 * g[i] * g[i]
    }
  }
  evaluate(0)
  s.observe(e, g)
  for (let k = 1; k <= 40; k++) {
    s.move()
    evaluate(0.05 * k)
    s.observe(e, g)
    s.maybeResample({ essFraction: 0.8, scheme: 'systematic' })
  }
  return s
}

test('cudaStatus(): never throws; available, built and reason/device fields are consistent', (t) => {
  const a = cudaStatus()
  const b = cudaStatus()
  t.deepEqual(a, b, 'probed once: the same answer every time')
  t.is(typeof a.available, 'boolean')
  t.is(typeof a.built, 'boolean')
  const known = ['available', 'built', 'reason', 'name', 'computeCapability', 'totalMemory', 'driverVersion', 'deviceCount', 'nvrtcVersion', 'nvrtcPath', 'nvrtcError']
  for (const k of Object.keys(a)) t.true(known.includes(k), `unexpected key ${k}`)
  if (a.available) {
    t.is(a.reason, undefined)
    t.true(a.built)
    t.is(typeof a.name, 'string')
    t.regex(a.computeCapability!, /^\d+\.\d+$/)
    t.regex(a.driverVersion!, /^\d+\.\d+$/)
    t.true(a.totalMemory! > 0)
    t.true(a.deviceCount! >= 1)
    t.regex(a.nvrtcVersion!, /^\d+\.\d+$/)
  } else {
    t.is(typeof a.reason, 'string')
    t.true(a.reason!.length > 10, a.reason)
    if (!a.built) t.regex(a.reason!, /no CUDA backend/)
  }
  if (a.name !== undefined) t.regex(a.computeCapability!, /^\d+\.\d+$/)
  // NVRTC is probed on its own, so a missing library is reported even when the driver is missing too.
  t.true(a.nvrtcVersion !== undefined || a.nvrtcError !== undefined || !a.built)
  if (process.platform === 'linux' || process.platform === 'win32') t.true(a.built, 'Linux and Windows builds have the CUDA backend')
})

test('the device option: default cpu; DEVICES and the auto threshold are exported', (t) => {
  t.deepEqual([...DEVICES], ['cpu', 'cuda', 'auto'])
  t.is(CUDA_AUTO_MIN_ELEMENTS, 65536)
  const s = new Sampler({ walkers: 10, dim: 2, stepSize: 0.1, seed: 1 })
  t.is(s.device, 'cpu')
  t.is(s.requestedDevice, 'cpu')
  t.is(s.fallbackReason, null)
  t.is(s.deviceInfo, null)
  const c = new Sampler({ walkers: 10, dim: 2, stepSize: 0.1, seed: 1, device: 'cpu' })
  t.is(c.device, 'cpu')
  t.is(c.fallbackReason, null)
})

test('invalid device values are refused with ERR_JARZYN_INVALID_OPTION (Sampler, Trainer, GMM experiment)', async (t) => {
  const base = { walkers: 10, dim: 2, stepSize: 0.1, seed: 1 }
  const e = throwsJarzyn(t, () => new Sampler({ ...base, device: 'gpu' as SamplerDevice }), RangeError, 'ERR_JARZYN_INVALID_OPTION', "'gpu'")
  t.regex(e?.message ?? '', /`device` must be one of 'cpu', 'cuda', 'auto', got 'gpu'/)
  throwsJarzyn(t, () => new Sampler({ ...base, device: 'CUDA' as SamplerDevice }), RangeError, 'ERR_JARZYN_INVALID_OPTION', "'CUDA'")
  throwsJarzyn(t, () => new Sampler({ ...base, device: 1 as unknown as SamplerDevice }), TypeError, 'ERR_JARZYN_INVALID_OPTION', '1')
  throwsJarzyn(t, () => new Sampler({ ...base, device: null as unknown as SamplerDevice }), TypeError, 'ERR_JARZYN_INVALID_OPTION', 'null')
  const g = smallGmm()
  throwsJarzyn(t, () => new Trainer(gmmTrainerOptions(g, { device: 'gpu' as SamplerDevice })), RangeError, 'ERR_JARZYN_INVALID_OPTION', 'Trainer')
  const err = await t.throwsAsync(runGmmExperiment({ ...PAPER_GMM_CONFIG, dim: 2, dataPoints: 50, walkers: 50, iterations: 2, device: 'tpu' as SamplerDevice }))
  t.is((err as Error & { code?: string }).code, 'ERR_JARZYN_INVALID_OPTION')
  t.regex(err!.message, /--device must be cpu, cuda or auto, got 'tpu'/)
})

noCuda("device 'cuda' without CUDA: the CPU runs, one JARZYN_CUDA_FALLBACK warning per reason, the reason on the sampler", async (t) => {
  const made: Sampler[] = []
  const ws = await warningsDuring(() => {
    for (let i = 0; i < 3; i++) made.push(new Sampler({ walkers: 50, dim: 2, stepSize: 0.1, seed: 1, device: 'cuda' }))
  })
  for (const s of made) {
    t.is(s.device, 'cpu')
    t.is(s.requestedDevice, 'cuda')
    t.is(s.fallbackReason, status.reason!, 'the sampler says why, in the words of cudaStatus()')
    t.is(s.deviceInfo, null)
  }
  const fb = fallbackWarnings(ws)
  t.is(fb.length, 1, 'one warning for three samplers with the same reason')
  t.is(fb[0].name, 'JarzynWarning')
  t.true(fb[0].message.includes(status.reason!), fb[0].message)
  t.regex(fb[0].message, /runs on the CPU/)
  // Later samplers with the same reason stay silent.
  t.is(fallbackWarnings(await warningsDuring(() => made.push(new Sampler({ walkers: 5, dim: 1, stepSize: 1, device: 'cuda' })))).length, 0)
  for (const s of made) s.dispose()
})

noCuda("device 'cuda' without CUDA gives the CPU's bits: positions, log-weights, energies and gradients equal device 'cpu' with the same seed", (t) => {
  const cpu = run('cpu')
  const fallback = run('cuda')
  const dflt = run(undefined)
  t.is(fallback.device, 'cpu')
  t.true(fallback.resamplings > 0, 'the run resampled')
  for (const other of [fallback, dflt]) {
    assertSameBits(t, other.positions, cpu.positions, 'positions')
    assertSameBits(t, other.logWeights, cpu.logWeights, 'logWeights')
    assertSameBits(t, other.energies, cpu.energies, 'energies')
    assertSameBits(t, other.gradients, cpu.gradients, 'gradients')
    t.is(other.logNormalizerRatio(), cpu.logNormalizerRatio())
    t.is(other.resamplings, cpu.resamplings)
  }
})

test.serial("device 'auto': the CPU below the threshold, silently, with the reason readable", async (t) => {
  let s: Sampler | undefined
  const ws = await warningsDuring(() => {
    s = new Sampler({ walkers: 100, dim: 10, stepSize: 0.1, seed: 3, device: 'auto' })
  })
  t.is(fallbackWarnings(ws).length, 0, 'no warning')
  t.is(s!.device, 'cpu')
  t.is(s!.requestedDevice, 'auto')
  if (status.available) t.regex(s!.fallbackReason!, /walkers x dim = 1000 is below 65536/)
  else t.regex(s!.fallbackReason!, /CUDA is not available/)
  s!.dispose()
})

noCuda("device 'auto' without CUDA: the CPU at any size, silently, and the CPU's bits", async (t) => {
  let big: Sampler | undefined
  const ws = await warningsDuring(() => {
    big = new Sampler({ walkers: 1024, dim: 64, stepSize: 0.1, seed: 3, device: 'auto' })
  })
  t.is(fallbackWarnings(ws).length, 0)
  t.is(big!.device, 'cpu')
  t.true(big!.fallbackReason!.includes(status.reason!))
  big!.dispose()
  const auto = run('auto')
  const cpu = run('cpu')
  assertSameBits(t, auto.positions, cpu.positions, 'positions')
  assertSameBits(t, auto.logWeights, cpu.logWeights, 'logWeights')
})

noCuda("Trainer({ device: 'cuda' }) without CUDA: device and metadata say cpu and why; the run is the CPU run, bit for bit", async (t) => {
  const g = smallGmm()
  const cpu = new Trainer(gmmTrainerOptions(g, { device: 'cpu' }))
  const fb = new Trainer(gmmTrainerOptions(g, { device: 'cuda' }))
  t.is(cpu.device, 'cpu')
  t.is(fb.device, 'cpu')
  t.is(fb.metadata().device, 'cpu')
  t.is(fb.metadata().deviceFallback, status.reason)
  t.is(cpu.metadata().deviceFallback, null)
  for (const tr of [cpu, fb]) for await (const _ of tr.run({ iterations: 30 })) void _
  assertSameBits(t, fb.energy.getParams(), cpu.energy.getParams(), 'parameters')
  assertSameBits(t, fb.samplers[0].logWeights, cpu.samplers[0].logWeights, 'log-weights')
  cpu.dispose()
  fb.dispose()
})

test("runGmmExperiment: config.device reaches the trainer; each result says what ran", async (t) => {
  const c = { ...PAPER_GMM_CONFIG, methods: ['jarzynski' as const, 'pcd' as const], dim: 2, dataPoints: 100, walkers: 100, iterations: 5, threads: 2 }
  const [cpu, auto] = await Promise.all([runGmmExperiment({ ...c, device: 'cpu' }), runGmmExperiment({ ...c, device: 'auto' })])
  for (const r of [...cpu, ...auto]) t.is(r.device, 'cpu', 'auto: 200 floats are below the threshold')
  t.deepEqual(
    auto.map((r) => r.weights),
    cpu.map((r) => r.weights),
  )
  const dflt = await runGmmExperiment(c)
  t.is(dflt[0].device, 'cpu')
})
