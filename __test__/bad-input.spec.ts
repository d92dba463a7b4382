/**
 * The bad-input matrix: every rejected input throws a TypeError / RangeError / Error of exactly the
 * documented class with its ERR_JARZYN_* code, leaves the sampler usable, and never crashes the
 * process. Invalid walkers (non-finite energies or gradients) get zero weight and are counted.
 */
import test from 'ava'

import { Sampler, fillNormals, isJarzynError } from '../ts/index'
import type { SamplerOptions } from '../ts/index'
import { detached, throwsJarzyn } from './helpers'
import { assertSameBits } from './bits'

const N = 16
const D = 3
const OK: SamplerOptions = { walkers: N, dim: D, stepSize: 0.1, seed: 1, threads: 1 }
const make = (extra: object = {}) => new Sampler({ ...OK, ...extra } as SamplerOptions)

test('constructor: options that are not an object', (t) => {
  for (const v of [undefined, null, 42, 'walkers']) {
    throwsJarzyn(t, () => new Sampler(v as unknown as SamplerOptions), TypeError, 'ERR_JARZYN_INVALID_OPTION', String(v))
  }
})

test('constructor: walkers and dim', (t) => {
  for (const key of ['walkers', 'dim'] as const) {
    for (const v of [0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 32]) {
      throwsJarzyn(t, () => make({ [key]: v }), RangeError, 'ERR_JARZYN_INVALID_OPTION', `${key} = ${v}`)
    }
    for (const v of ['10', undefined, null, 10n, [10]]) {
      throwsJarzyn(t, () => make({ [key]: v }), TypeError, 'ERR_JARZYN_INVALID_OPTION', `${key} = ${String(v)}`)
    }
  }
  // More elements than a typed array may hold: rejected before allocating anything.
  throwsJarzyn(t, () => make({ walkers: 2 ** 16, dim: 2 ** 16 }), RangeError, 'ERR_JARZYN_INVALID_OPTION', 'walkers * dim = 2^32')
})

test('constructor: stepSize', (t) => {
  for (const v of [0, -0, -1, NaN, Infinity, -Infinity]) {
    throwsJarzyn(t, () => make({ stepSize: v }), RangeError, 'ERR_JARZYN_INVALID_OPTION', `stepSize = ${v}`)
  }
  for (const v of ['0.1', undefined, null]) {
    throwsJarzyn(t, () => make({ stepSize: v }), TypeError, 'ERR_JARZYN_INVALID_OPTION', `stepSize = ${String(v)}`)
  }
})

test('constructor: threads', (t) => {
  for (const v of [0, 2000, 1025, -1, 1.5, NaN]) {
    throwsJarzyn(t, () => make({ threads: v }), RangeError, 'ERR_JARZYN_INVALID_OPTION', `threads = ${v}`)
  }
  throwsJarzyn(t, () => make({ threads: '2' }), TypeError, 'ERR_JARZYN_INVALID_OPTION', "threads = '2'")
  // The largest accepted value is 1024; not constructed here (1024 OS threads on a small CI box).
})

test('constructor: seed', (t) => {
  for (const v of [-1, 1.5, NaN, Infinity, 2 ** 53, -1n, 1n << 64n, (1n << 64n) + 5n]) {
    throwsJarzyn(t, () => make({ seed: v }), RangeError, 'ERR_JARZYN_INVALID_OPTION', `seed = ${String(v)}`)
  }
  for (const v of ['x', '1', null, {}]) {
    throwsJarzyn(t, () => make({ seed: v }), TypeError, 'ERR_JARZYN_INVALID_OPTION', `seed = ${String(v)}`)
  }
  for (const v of [0, Number.MAX_SAFE_INTEGER, 0n, (1n << 64n) - 1n]) {
    const s = make({ seed: v })
    t.is(s.seed, BigInt(v))
    s.dispose()
  }
})

test('constructor: weighted and unknown keys', (t) => {
  for (const v of [1, 'yes', null]) {
    throwsJarzyn(t, () => make({ weighted: v }), TypeError, 'ERR_JARZYN_INVALID_OPTION', `weighted = ${String(v)}`)
  }
  for (const extra of [{ seeds: 1 }, { stepsize: 0.1 }, { walker: 3 }, { essFraction: 0.5 }]) {
    throwsJarzyn(t, () => make(extra), TypeError, 'ERR_JARZYN_UNKNOWN_OPTION', JSON.stringify(extra))
  }
})

test('observe: wrong typed-array types', (t) => {
  const s = make()
  const g = new Float32Array(N * D)
  const e = new Float32Array(N)
  const bad: unknown[] = [new Float64Array(N), Array.from({ length: N }, () => 0), new Int32Array(N), new Uint8Array(N * 4), null, 'x', 3, new DataView(new ArrayBuffer(N * 4)), new ArrayBuffer(N * 4)]
  for (const v of bad) {
    throwsJarzyn(t, () => s.observe(v as Float32Array, g), TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `energy ${Object.prototype.toString.call(v)}`)
  }
  const badG: unknown[] = [new Float64Array(N * D), Array.from({ length: N * D }, () => 0), new Int32Array(N * D), null]
  for (const v of badG) {
    throwsJarzyn(t, () => s.observe(e, v as Float32Array), TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `grad ${Object.prototype.toString.call(v)}`)
  }
  s.dispose()
})

test('observe, normalizedWeights, fillNormals: wrong lengths', (t) => {
  const s = make()
  for (const n of [1, N - 1, N + 1, N * D]) {
    throwsJarzyn(t, () => s.observe(new Float32Array(n), new Float32Array(N * D)), RangeError, 'ERR_JARZYN_BAD_LENGTH', `energy length ${n}`)
  }
  for (const n of [1, N, N * D - 1, N * D + 1]) {
    throwsJarzyn(t, () => s.observe(new Float32Array(N), new Float32Array(n)), RangeError, 'ERR_JARZYN_BAD_LENGTH', `grad length ${n}`)
  }
  for (const n of [1, N - 1, N + 1]) {
    throwsJarzyn(t, () => s.normalizedWeights(new Float64Array(n)), RangeError, 'ERR_JARZYN_BAD_LENGTH', `out length ${n}`)
  }
  throwsJarzyn(t, () => s.normalizedWeights(new Float32Array(N) as unknown as Float64Array), TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', 'out Float32Array')
  throwsJarzyn(t, () => fillNormals(new Float32Array(7), { dim: 3, seed: 1 }), RangeError, 'ERR_JARZYN_BAD_LENGTH', 'fillNormals 7 % 3')
  for (const v of [undefined, new Float64Array(6), [0, 0, 0], new Int32Array(6)]) {
    throwsJarzyn(t, () => fillNormals(v as unknown as Float32Array, { dim: 3, seed: 1 }), TypeError, 'ERR_JARZYN_BAD_ARRAY_TYPE', `fillNormals out ${String(v)}`)
  }
  s.dispose()
})

/**
 * ts/validate.ts isDetached() falls back, where ArrayBuffer.prototype.detached is missing (Node
 * 18 and 20), to "byteLength 0": every empty typed array then counts as detached, and an empty
 * energy array is reported as a detached buffer instead of a length error.
 */
test('zero-length arrays are a length error, not a detached buffer', (t) => {
  const s = make()
  throwsJarzyn(t, () => s.observe(new Float32Array(0), new Float32Array(N * D)), RangeError, 'ERR_JARZYN_BAD_LENGTH', 'energy length 0')
  throwsJarzyn(t, () => s.observe(new Float32Array(N), new Float32Array(0)), RangeError, 'ERR_JARZYN_BAD_LENGTH', 'grad length 0')
  throwsJarzyn(t, () => s.normalizedWeights(new Float64Array(0)), RangeError, 'ERR_JARZYN_BAD_LENGTH', 'out length 0')
  s.dispose()
})

test('detached buffers are rejected, not read', (t) => {
  const s = make()
  throwsJarzyn(t, () => s.observe(detached(new Float32Array(N)), new Float32Array(N * D)), TypeError, 'ERR_JARZYN_DETACHED', 'energy')
  throwsJarzyn(t, () => s.observe(new Float32Array(N), detached(new Float32Array(N * D))), TypeError, 'ERR_JARZYN_DETACHED', 'grad')
  throwsJarzyn(t, () => s.normalizedWeights(detached(new Float64Array(N))), TypeError, 'ERR_JARZYN_DETACHED', 'out')
  // A detached subarray of a larger buffer, too.
  const big = new Float32Array(N + 8)
  const sub = big.subarray(8)
  detached(big)
  throwsJarzyn(t, () => s.observe(sub, new Float32Array(N * D)), TypeError, 'ERR_JARZYN_DETACHED', 'energy subarray')
  // The sampler is still fine.
  t.deepEqual(s.observe(new Float32Array(N), new Float32Array(N * D)), { newlyInvalid: 0, invalid: 0 })
  s.dispose()
})

test('resample and maybeResample: schemes and essFraction', (t) => {
  const s = make()
  s.observe(new Float32Array(N), new Float32Array(N * D))
  for (const v of ['foo', '', 'Systematic', 'multinomial ']) {
    throwsJarzyn(t, () => s.resample(v as 'systematic'), RangeError, 'ERR_JARZYN_INVALID_OPTION', `scheme '${v}'`)
    throwsJarzyn(t, () => s.maybeResample({ essFraction: 0.5, scheme: v as 'systematic' }), RangeError, 'ERR_JARZYN_INVALID_OPTION', `maybe scheme '${v}'`)
  }
  for (const v of [42, null, {}, ['systematic']]) {
    throwsJarzyn(t, () => s.resample(v as unknown as 'systematic'), TypeError, 'ERR_JARZYN_INVALID_OPTION', `scheme ${String(v)}`)
  }
  throwsJarzyn(t, () => s.maybeResample({ essFraction: 0.5, scheme: 42 as unknown as 'systematic' }), TypeError, 'ERR_JARZYN_INVALID_OPTION', 'maybe scheme 42')
  for (const v of [-0.1, 1.1, -Infinity, Infinity, NaN, 2]) {
    throwsJarzyn(t, () => s.maybeResample({ essFraction: v }), RangeError, 'ERR_JARZYN_INVALID_OPTION', `essFraction ${v}`)
  }
  for (const v of ['0.5', undefined, null]) {
    throwsJarzyn(t, () => s.maybeResample({ essFraction: v as unknown as number }), TypeError, 'ERR_JARZYN_INVALID_OPTION', `essFraction ${String(v)}`)
  }
  for (const v of [undefined, null, 0.5]) {
    throwsJarzyn(t, () => s.maybeResample(v as never), TypeError, 'ERR_JARZYN_INVALID_OPTION', `options ${String(v)}`)
  }
  throwsJarzyn(t, () => s.maybeResample({ essFraction: 0.5, shceme: 'residual' } as never), TypeError, 'ERR_JARZYN_UNKNOWN_OPTION', 'typo key')
  t.is(s.resamplings, 0, 'no rejected call resampled')
  // The ends of [0, 1] are valid.
  t.false(s.maybeResample({ essFraction: 0 }))
  t.false(s.maybeResample({ essFraction: 1 }))
  s.dispose()
})

test('stepSize setter: rejected values leave the step size unchanged', (t) => {
  const s = make()
  for (const v of [0, -1, NaN, Infinity]) {
    throwsJarzyn(t, () => (s.stepSize = v), RangeError, 'ERR_JARZYN_INVALID_OPTION', `stepSize = ${v}`)
  }
  throwsJarzyn(t, () => (s.stepSize = '0.2' as unknown as number), TypeError, 'ERR_JARZYN_INVALID_OPTION', "stepSize = '0.2'")
  t.is(s.stepSize, 0.1)
  s.stepSize = 0.2
  t.is(s.stepSize, 0.2)
  s.dispose()
})

test('call order: move() before observe(), move() twice, stepSize between move() and observe()', (t) => {
  const s = make()
  throwsJarzyn(t, () => s.move(), Error, 'ERR_JARZYN_BAD_STATE', 'move before observe')
  t.is(s.steps, 0)
  s.observe(new Float32Array(N), new Float32Array(N * D))
  s.move()
  throwsJarzyn(t, () => s.move(), Error, 'ERR_JARZYN_BAD_STATE', 'move twice')
  throwsJarzyn(t, () => (s.stepSize = 0.3), Error, 'ERR_JARZYN_BAD_STATE', 'stepSize after move')
  t.is(s.stepSize, 0.1, 'the rejected step size was not recorded')
  t.is(s.steps, 1)
  s.observe(new Float32Array(N), new Float32Array(N * D))
  s.stepSize = 0.3
  s.move()
  t.is(s.steps, 2)
  s.dispose()
})

test('rejected calls leave the state untouched: same trajectory as a sampler that never saw them', (t) => {
  const a = make({ seed: 9, threads: 2 })
  const b = make({ seed: 9, threads: 2 })
  fillNormals(a.positions, { dim: D, seed: 2, stream: 'init' })
  fillNormals(b.positions, { dim: D, seed: 2, stream: 'init' })
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  const obs = (s: Sampler) => {
    for (let i = 0; i < N; i++) {
      let u = 0
      for (let j = 0; j < D; j++) {
        u += 0.5 * s.positions[i * D + j] ** 2
        g[i * D + j] = s.positions[i * D + j] * 1.5
      }
      e[i] = u * 1.5
    }
    return s.observe(e, g)
  }
  obs(a)
  obs(b)
  for (let k = 0; k < 3; k++) {
    const attempts = [
      () => a.observe(new Float32Array(N + 1), g),
      () => a.observe(e, new Float64Array(N * D) as unknown as Float32Array),
      () => a.resample('nope' as 'systematic'),
      () => a.maybeResample({ essFraction: 3 }),
      () => (a.stepSize = -1),
      () => a.normalizedWeights(a.logWeights),
    ]
    for (const f of attempts) t.throws(f)
    a.move()
    t.throws(() => a.move())
    t.throws(() => (a.stepSize = 1))
    b.move()
    obs(a)
    obs(b)
  }
  assertSameBits(t, a.positions, b.positions, 'positions')
  assertSameBits(t, a.logWeights, b.logWeights, 'logWeights')
  t.is(a.steps, b.steps)
  t.is(a.resamplings, 0)
  a.dispose()
  b.dispose()
})

/** A disposed sampler, and every call that must then throw ERR_JARZYN_DISPOSED. */
function disposedCalls(): { s: Sampler; calls: Array<[string, () => unknown]> } {
  const s = make()
  s.observe(new Float32Array(N), new Float32Array(N * D))
  s.dispose()
  const calls: Array<[string, () => unknown]> = [
    ['positions', () => s.positions],
    ['logWeights', () => s.logWeights],
    ['energies', () => s.energies],
    ['gradients', () => s.gradients],
    ['steps', () => s.steps],
    ['resamplings', () => s.resamplings],
    ['invalidTotal', () => s.invalidTotal],
    ['observe()', () => s.observe()],
    ['observe(e, g)', () => s.observe(new Float32Array(N), new Float32Array(N * D))],
    ['observe(bad length)', () => s.observe(new Float32Array(1))],
    ['move()', () => s.move()],
    ['normalizedWeights()', () => s.normalizedWeights()],
    ['normalizedWeights(out)', () => s.normalizedWeights(new Float64Array(N))],
    ['ess()', () => s.ess()],
    ['summary()', () => s.summary()],
    ['logNormalizerRatio()', () => s.logNormalizerRatio()],
    ['resample()', () => s.resample()],
    ['resample(multinomial)', () => s.resample('multinomial')],
    ['maybeResample()', () => s.maybeResample({ essFraction: 1 })],
    ['stepSize = 0.2', () => (s.stepSize = 0.2)],
  ]
  return { s, calls }
}

/**
 * These call this.#live() inside callNative() (ts/sampler.ts), whose fromNative() (ts/errors.ts)
 * re-wraps the coded DISPOSED error as ERR_JARZYN_NATIVE, since its message has no "CODE|" prefix.
 */
const DISPOSED_MISCODED = new Set(['ess()', 'summary()', 'logNormalizerRatio()', 'resample()', 'resample(multinomial)', 'maybeResample()', 'stepSize = 0.2'])

test('after dispose(): views, counters, observe, move and normalizedWeights throw ERR_JARZYN_DISPOSED', (t) => {
  const { s, calls } = disposedCalls()
  t.true(s.disposed)
  t.notThrows(() => s.dispose(), 'dispose twice is a no-op')
  for (const [name, f] of calls) {
    if (DISPOSED_MISCODED.has(name)) {
      // Whatever the code, it is a jarzyn Error and nothing runs.
      const e = t.throws(f)
      t.true(isJarzynError(e), name)
    } else {
      throwsJarzyn(t, f, Error, 'ERR_JARZYN_DISPOSED', name)
    }
  }
  // Plain configuration fields remain readable.
  t.is(s.walkers, N)
  t.is(s.dim, D)
})

for (const name of DISPOSED_MISCODED) {
  test(`after dispose(): ${name} throws ERR_JARZYN_DISPOSED`, (t) => {
    const { calls } = disposedCalls()
    const f = calls.find(([n]) => n === name)![1]
    throwsJarzyn(t, f, Error, 'ERR_JARZYN_DISPOSED', name)
  })
}

test('all walkers invalid: ERR_JARZYN_ALL_WALKERS_INVALID, and the sampler stays safe to call', (t) => {
  for (const [name, e, g] of [
    ['NaN energies', new Float32Array(N).fill(NaN), new Float32Array(N * D)],
    ['+Inf energies', new Float32Array(N).fill(Infinity), new Float32Array(N * D)],
    ['Inf gradients', new Float32Array(N), new Float32Array(N * D).fill(-Infinity)],
  ] as const) {
    const s = make()
    throwsJarzyn(t, () => s.observe(e, g), Error, 'ERR_JARZYN_ALL_WALKERS_INVALID', name)
    t.true(s.logWeights.every((a) => a === -Infinity), name)
    t.is(s.ess(), 0)
    t.is(s.summary().zeroWeight, N)
    t.is(s.logNormalizerRatio(), -Infinity)
    t.is(s.invalidTotal, N)
    throwsJarzyn(t, () => s.normalizedWeights(), Error, 'ERR_JARZYN_ALL_WALKERS_INVALID', `${name}: normalizedWeights`)
    throwsJarzyn(t, () => s.resample('residual'), Error, 'ERR_JARZYN_ALL_WALKERS_INVALID', `${name}: resample`)
    throwsJarzyn(t, () => s.maybeResample({ essFraction: 0.5 }), Error, 'ERR_JARZYN_ALL_WALKERS_INVALID', `${name}: maybeResample`)
    t.is(s.resamplings, 0)
    s.dispose()
  }
  // Becoming all-invalid later, after a move.
  const s = make()
  s.observe(new Float32Array(N), new Float32Array(N * D))
  s.move()
  throwsJarzyn(t, () => s.observe(new Float32Array(N).fill(NaN), new Float32Array(N * D)), Error, 'ERR_JARZYN_ALL_WALKERS_INVALID', 'after a move')
  s.dispose()
})

test('some walkers invalid: zero weight, counted, excluded from ESS and resampling, frozen in place', (t) => {
  const n = 100
  const d = 2
  for (const weighted of [true, false]) {
    const s = new Sampler({ walkers: n, dim: d, stepSize: 0.1, seed: 3, threads: 2, weighted })
    fillNormals(s.positions, { dim: d, seed: 4, stream: 'init' })
    const e = new Float32Array(n).fill(1)
    const g = new Float32Array(n * d).fill(0.5)
    e[3] = NaN
    e[50] = NaN
    e[7] = Infinity
    e[8] = -Infinity
    g[20 * d + 1] = NaN
    g[21 * d] = Infinity
    const bad = [3, 7, 8, 20, 21, 50]
    t.deepEqual(s.observe(e, g), { newlyInvalid: 6, invalid: 6 })
    t.is(s.invalidTotal, 6)
    for (let i = 0; i < n; i++) t.is(s.logWeights[i], bad.includes(i) ? -Infinity : 0, `walker ${i}`)
    // Every valid walker has weight exp(0): ESS = number of valid walkers exactly.
    t.is(s.ess(), n - 6)
    t.is(s.summary().zeroWeight, 6)
    t.true(Math.abs(s.logNormalizerRatio() - Math.log((n - 6) / n)) < 1e-12)
    const p = s.normalizedWeights()
    for (let i = 0; i < n; i++) t.true(bad.includes(i) ? p[i] === 0 : Math.abs(p[i] - 1 / (n - 6)) < 1e-15)
    // Dead walkers do not move.
    const x = s.positions.slice()
    s.move()
    for (const i of bad) t.deepEqual(Array.from(s.positions.subarray(i * d, i * d + d)), Array.from(x.subarray(i * d, i * d + d)), `dead walker ${i} moved`)
    let moved = 0
    for (let i = 0; i < n; i++) if (!bad.includes(i) && s.positions[i * d] !== x[i * d]) moved++
    t.is(moved, n - 6)
    // A clean observation: still 6 invalid, none new; then one more goes bad.
    e.fill(1)
    g.fill(0.5)
    t.deepEqual(s.observe(e, g), { newlyInvalid: 0, invalid: 6 })
    t.is(s.invalidTotal, 6)
    s.move()
    e[60] = NaN
    t.deepEqual(s.observe(e, g), { newlyInvalid: 1, invalid: 7 })
    t.is(s.invalidTotal, 7)
    t.is(s.summary().zeroWeight, 7)
    // Resampling never picks them and revives the population.
    const anc = s.resample('multinomial')
    for (const a of anc) t.false([...bad, 60].includes(a), `picked dead walker ${a}`)
    t.true(s.logWeights.every((a) => a === 0))
    e[60] = 1
    s.move()
    t.deepEqual(s.observe(e, g), { newlyInvalid: 0, invalid: 0 })
    s.dispose()
  }
})

test('NaN and +Infinity written into the log-weights view count as zero weight, like invalid walkers', (t) => {
  const s = make()
  s.observe(new Float32Array(N), new Float32Array(N * D))
  s.logWeights.fill(0.25)
  s.logWeights[3] = NaN
  s.logWeights[5] = Infinity
  s.logWeights[6] = -Infinity
  const m = s.summary()
  t.is(m.zeroWeight, 3)
  t.is(m.maxLogWeight, 0.25)
  t.is(m.ess, N - 3)
  const p = s.normalizedWeights()
  t.deepEqual([p[3], p[5], p[6]], [0, 0, 0])
  t.true(Math.abs(p.reduce((a, v) => a + v, 0) - 1) < 1e-12)
  t.true(Math.abs(s.logNormalizerRatio() - (0.25 + Math.log((N - 3) / N))) < 1e-12)
  for (const a of s.resample('systematic')) t.false([3, 5, 6].includes(a), `ancestor ${a} has zero weight`)
  // Normalised weights sum to 1 however large the log-weights are (exp(A - max) / sum, not exp(A - logsumexp)).
  s.logWeights.fill(1e300)
  s.logWeights[0] = -1e300
  t.true(Math.abs(s.normalizedWeights().reduce((a, v) => a + v, 0) - 1) < 1e-12)
  s.dispose()
})

test('normalizedWeights(s.logWeights) and other aliases of the log-weights are rejected', (t) => {
  const s = make()
  s.observe(new Float32Array(N), new Float32Array(N * D))
  s.logWeights[2] = 1.5
  throwsJarzyn(t, () => s.normalizedWeights(s.logWeights), TypeError, 'ERR_JARZYN_ALIASED', 's.logWeights')
  throwsJarzyn(t, () => s.normalizedWeights(new Float64Array(s.logWeights.buffer, 0, N)), TypeError, 'ERR_JARZYN_ALIASED', 'new view on the same memory')
  t.is(s.logWeights[2], 1.5, 'the log-weights were not overwritten')
  t.is(s.normalizedWeights().length, N)
  s.dispose()
})

test('fillNormals: invalid options', (t) => {
  const out = new Float32Array(6)
  for (const [opts, Class] of [
    [{ dim: 0, seed: 1 }, RangeError],
    [{ dim: 1.5, seed: 1 }, RangeError],
    [{ dim: '3', seed: 1 }, TypeError],
    [{ dim: 3, seed: -1 }, RangeError],
    [{ dim: 3, seed: 1.5 }, RangeError],
    [{ dim: 3, seed: -1n }, RangeError],
    [{ dim: 3, seed: 1n << 64n }, RangeError],
    [{ dim: 3, seed: 'x' }, TypeError],
    [{ dim: 3 }, TypeError],
    [{ dim: 3, seed: 1, step: -1 }, RangeError],
    [{ dim: 3, seed: 1, step: 0.5 }, RangeError],
    [{ dim: 3, seed: 1, step: 2 ** 53 }, RangeError],
    [{ dim: 3, seed: 1, walker0: -1 }, RangeError],
    [{ dim: 3, seed: 1, walker0: 2 ** 32 }, RangeError],
    [{ dim: 3, seed: 1, stream: 'foo' }, RangeError],
  ] as const) {
    throwsJarzyn(t, () => fillNormals(out, opts as never), Class, 'ERR_JARZYN_INVALID_OPTION', JSON.stringify(opts, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))
  }
})

// ---------------------------------------------------------------------------------------------
// fillNormals checks its arguments as strictly as the rest of the API.

test('fillNormals: options that are not an object throw a coded jarzyn TypeError', (t) => {
  for (const v of [undefined, null]) {
    throwsJarzyn(t, () => fillNormals(new Float32Array(4), v as never), TypeError, 'ERR_JARZYN_INVALID_OPTION', String(v))
  }
})

test('fillNormals: a stream named like an Object.prototype property is an invalid option', (t) => {
  // Stream names are looked up as own properties, so inherited names are not streams.
  for (const v of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    throwsJarzyn(t, () => fillNormals(new Float32Array(4), { dim: 2, seed: 1, stream: v as never }), RangeError, 'ERR_JARZYN_INVALID_OPTION', v)
  }
})

test('fillNormals: unknown option keys are rejected like the Sampler\'s', (t) => {
  // { steps: 3 } is a typo of `step`: silently using step 0 would be wrong.
  throwsJarzyn(t, () => fillNormals(new Float32Array(4), { dim: 2, seed: 1, steps: 3 } as never), TypeError, 'ERR_JARZYN_UNKNOWN_OPTION', 'steps')
})

test('fillNormals: a detached `out` is rejected like every other array input', (t) => {
  throwsJarzyn(t, () => fillNormals(detached(new Float32Array(4)), { dim: 2, seed: 1 }), TypeError, 'ERR_JARZYN_DETACHED', 'out')
})

test('a deterministic barrage of valid and invalid calls: only jarzyn errors, never a crash', (t) => {
  // A small LCG picks 3000 operations, half of them malformed.
  let state = 12345
  const rnd = (k: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    return (state >>> 8) % k
  }
  const n = 40
  const d = 2
  const s = new Sampler({ walkers: n, dim: d, stepSize: 0.2, seed: 5, threads: 2 })
  fillNormals(s.positions, { dim: d, seed: 5, stream: 'init' })
  const goodE = () => {
    const e = new Float32Array(n)
    for (let i = 0; i < n; i++) e[i] = rnd(10) === 0 ? [NaN, Infinity, 1e30][rnd(3)] : 0.5 * (s.positions[i * d] ** 2 + s.positions[i * d + 1] ** 2)
    return e
  }
  const goodG = () => s.positions.slice()
  const junk = [undefined, null, 0, -1, NaN, 'x', {}, [], new Float64Array(n), new Float32Array(n + 1), new Int8Array(n), 1n]
  const ops: Array<() => unknown> = [
    () => s.observe(goodE(), goodG()),
    () => s.observe(junk[rnd(junk.length)] as never, goodG()),
    () => s.observe(goodE(), junk[rnd(junk.length)] as never),
    () => s.move(),
    () => s.resample(['multinomial', 'systematic', 'stratified', 'residual', 'x', 7][rnd(6)] as never),
    () => s.maybeResample({ essFraction: [0.5, 1, -1, NaN, 2][rnd(5)], scheme: ['systematic', 'bogus'][rnd(2)] as never }),
    () => (s.stepSize = [0.1, 0.3, 0, -2, NaN][rnd(5)]),
    () => s.normalizedWeights([undefined, new Float64Array(n), new Float64Array(2), s.logWeights][rnd(4)]),
    () => s.summary(),
    () => (s.logWeights[rnd(n)] = [0, -Infinity, 3, -700][rnd(4)]),
    () => (s.positions[rnd(n * d)] = [0, 1e38, -1e38][rnd(3)]),
  ]
  const codes = new Map<string, number>()
  let ok = 0
  for (let k = 0; k < 3000; k++) {
    try {
      ops[rnd(ops.length)]()
      ok++
    } catch (e) {
      if (!isJarzynError(e)) {
        t.fail(`operation ${k} threw a non-jarzyn error: ${String(e)}`)
        break
      }
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
      // Recover from a fully dead population so the barrage keeps exercising the live paths.
      if (e.code === 'ERR_JARZYN_ALL_WALKERS_INVALID') s.logWeights.fill(0)
    }
  }
  t.log(`${ok} calls succeeded; errors: ${JSON.stringify(Object.fromEntries(codes))}`)
  t.true(ok > 1000)
  for (const c of ['ERR_JARZYN_BAD_ARRAY_TYPE', 'ERR_JARZYN_BAD_LENGTH', 'ERR_JARZYN_INVALID_OPTION', 'ERR_JARZYN_BAD_STATE', 'ERR_JARZYN_ALIASED']) {
    t.true(codes.has(c), `the barrage never produced ${c}`)
  }
  s.dispose()
})
