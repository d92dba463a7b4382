/**
 * Resampling through the JS API. The sampler draws its resampling uniforms from the counter of
 * resamplings, so R replications are R successive resample() calls on one sampler whose
 * log-weights are written back through the writable `logWeights` view after each call.
 */
import test from 'ava'

import { Sampler, RESAMPLE_SCHEMES, fillNormals } from '../ts/index'
import type { ResampleScheme } from '../ts/index'
import { logMeanExp, meanSe, offspring } from './helpers'
import { assertSameBits } from './bits'

const N = 64
const R = 4000
const SCHEMES = RESAMPLE_SCHEMES as readonly ResampleScheme[]

/** Unnormalised weights with a spread of sizes (N p_i from 0 to ~5) and zero-weight walkers. */
function testWeights(): { logW: Float64Array; p: Float64Array } {
  const w = new Float64Array(N)
  for (let i = 0; i < N; i++) w[i] = ((i * 37) % 11) + 0.25 + (i % 9 === 4 ? 20 : 0)
  for (const z of [0, 17, 40, N - 1]) w[z] = 0
  let s = 0
  for (const v of w) s += v
  const p = w.map((v) => v / s)
  // Offsets of the log-weights do not matter: p = softmax(A).
  const logW = w.map((v) => (v === 0 ? -Infinity : Math.log(v) + 123.25))
  return { logW, p }
}

function makeSampler(seed = 7, walkers = N, dim = 1): Sampler {
  return new Sampler({ walkers, dim, stepSize: 0.1, seed, threads: 2 })
}

/** Offspring counts of R replications: count[r * N + i]. */
function replicate(scheme: ResampleScheme, logW: Float64Array, seed = 7): Float64Array {
  const s = makeSampler(seed)
  const counts = new Float64Array(R * N)
  for (let r = 0; r < R; r++) {
    s.logWeights.set(logW)
    const anc = s.resample(scheme)
    if (anc.length !== N) throw new Error(`ancestors length ${anc.length}`)
    counts.set(offspring(anc, N), r * N)
  }
  if (s.resamplings !== R) throw new Error(`resamplings ${s.resamplings}`)
  s.dispose()
  return counts
}

const { logW, p } = testWeights()
const counts = new Map<ResampleScheme, Float64Array>()
const countsOf = (scheme: ResampleScheme) => {
  let c = counts.get(scheme)
  if (c === undefined) {
    c = replicate(scheme, logW)
    counts.set(scheme, c)
  }
  return c
}

for (const scheme of SCHEMES) {
  test(`${scheme}: offspring counts have mean N p_i (5 multinomial SEs per walker, chi-square overall)`, (t) => {
    t.true(p.every((v) => v <= 0.5))
    const c = countsOf(scheme)
    let chi2 = 0
    let dof = 0
    for (let i = 0; i < N; i++) {
      let sum = 0
      for (let r = 0; r < R; r++) sum += c[r * N + i]
      const mean = sum / R
      const expect = N * p[i]
      if (p[i] === 0) {
        t.is(mean, 0, `walker ${i} has zero weight and was chosen`)
        continue
      }
      // Var of walker i's count is at most the multinomial N p (1 - p) for all four schemes
      // (p_i <= 1/2, N >= 2): systematic and stratified keep it within the two integers around
      // N p_i, residual draws only the fractional part at random.
      const se = Math.sqrt((N * p[i] * (1 - p[i])) / R)
      const z = (mean - expect) / se
      t.true(Math.abs(z) < 5, `walker ${i}: mean ${mean} vs N p = ${expect} (se ${se.toFixed(4)}, z ${z.toFixed(2)})`)
      chi2 += z * z
      dof++
    }
    // For multinomial the z's are ~N(0,1) (one linear constraint): chi-square with dof - 1.
    if (scheme === 'multinomial') {
      const k = dof - 1
      t.true(chi2 < k + 5 * Math.sqrt(2 * k), `chi2 ${chi2.toFixed(1)} on ${k} dof`)
      t.true(chi2 > k - 5 * Math.sqrt(2 * k), `chi2 ${chi2.toFixed(1)} on ${k} dof: suspiciously small`)
    }
  })
}

test('systematic, stratified and residual have lower offspring variance than multinomial', (t) => {
  // D_r = sum_i (c_i - N p_i)^2 per replication; E[D] = N (1 - sum p^2) for multinomial.
  const total = (scheme: ResampleScheme) => {
    const c = countsOf(scheme)
    const d = new Float64Array(R)
    for (let r = 0; r < R; r++) {
      let v = 0
      for (let i = 0; i < N; i++) v += (c[r * N + i] - N * p[i]) ** 2
      d[r] = v
    }
    return meanSe(d)
  }
  const multi = total('multinomial')
  let sp2 = 0
  for (const v of p) sp2 += v * v
  const expect = N * (1 - sp2)
  t.true(Math.abs(multi.mean - expect) < 4 * multi.se, `multinomial total variance ${multi.mean} vs ${expect} (se ${multi.se})`)
  for (const scheme of ['systematic', 'stratified', 'residual'] as const) {
    const v = total(scheme)
    const se = Math.sqrt(v.se ** 2 + multi.se ** 2)
    t.true(v.mean + 4 * se < multi.mean, `${scheme}: ${v.mean} (se ${v.se}) not below multinomial ${multi.mean}`)
    t.log(`${scheme}: total offspring variance ${v.mean.toFixed(2)} vs multinomial ${multi.mean.toFixed(2)}`)
  }
})

test('zero-weight walkers are never chosen, whatever the scheme and round-off', (t) => {
  const cases: Array<[string, Float64Array]> = []
  // One live walker among dead ones, at the start, the middle and the end.
  for (const live of [0, 31, N - 1]) {
    const a = new Float64Array(N).fill(-Infinity)
    a[live] = -3.5
    cases.push([`only walker ${live} alive`, a])
  }
  // Weights that underflow to exactly zero after the max shift, next to live ones.
  const under = new Float64Array(N)
  for (let i = 0; i < N; i++) under[i] = i % 2 === 0 ? -2000 : 0.001 * i
  cases.push(['underflowing weights', under])
  // Many tiny equal weights whose f64 sum is not exactly 1 and a dead tail.
  const tail = new Float64Array(N)
  for (let i = 0; i < N; i++) tail[i] = i >= N - 5 ? -Infinity : Math.log(0.1 + 1e-9 * i)
  cases.push(['dead tail', tail])
  // Huge log-weights: only the max shift keeps them finite.
  const huge = new Float64Array(N)
  for (let i = 0; i < N; i++) huge[i] = i % 3 === 0 ? -Infinity : 1e6 + (i % 5)
  cases.push(['huge log-weights', huge])
  for (const scheme of SCHEMES) {
    const s = makeSampler(11)
    for (const [name, a] of cases) {
      const max = Math.max(...a)
      for (let r = 0; r < 50; r++) {
        s.logWeights.set(a)
        const anc = s.resample(scheme)
        let bad = -1
        for (const i of anc) {
          if (!(i < N) || Math.exp(a[i] - max) === 0) {
            bad = i
            break
          }
        }
        t.is(bad, -1, `${scheme}, ${name}: chose walker ${bad}`)
        if (bad !== -1) break
      }
    }
    s.dispose()
  }
})

test('after resampling: A = 0, the log Z ratio is unchanged and absorbed log mean exp(A), rows copied from the ancestors', (t) => {
  for (const scheme of SCHEMES) {
    const d = 3
    const s = makeSampler(13, N, d)
    fillNormals(s.positions, { dim: d, seed: 13, stream: 'init' })
    const e = new Float32Array(N)
    const g = new Float32Array(N * d)
    for (let i = 0; i < N; i++) e[i] = i + 0.5
    for (let i = 0; i < N * d; i++) g[i] = -i
    s.observe(e, g)
    s.logWeights.set(logW)
    const before = s.logNormalizerRatio()
    t.true(Math.abs(before - logMeanExp(logW)) < 1e-12)
    const x = s.positions.slice()
    const anc = s.resample(scheme)
    t.true(anc instanceof Uint32Array)
    t.is(s.resamplings, 1)
    t.true(s.logWeights.every((v) => v === 0), 'log-weights reset to 0')
    t.is(s.ess(), N)
    t.true(Math.abs(s.logNormalizerRatio() - before) < 1e-12, `${scheme}: ${s.logNormalizerRatio()} vs ${before}`)
    let rowsOk = true
    for (let j = 0; j < N; j++) {
      const a = anc[j]
      if (s.energies[j] !== e[a]) rowsOk = false
      for (let k = 0; k < d; k++) {
        if (s.positions[j * d + k] !== x[a * d + k] || s.gradients[j * d + k] !== g[a * d + k]) rowsOk = false
      }
    }
    t.true(rowsOk, `${scheme}: positions, energies and gradients copied from the ancestors`)
    // A second resampling with equal weights absorbs log mean exp(0) = 0.
    s.resample(scheme)
    t.true(Math.abs(s.logNormalizerRatio() - before) < 1e-12)
    s.dispose()
  }
})

test('resampling between move() and observe() carries the pending Jarzynski increment of each ancestor', (t) => {
  const d = 2
  const h = 0.3
  const a = makeSampler(17, N, d)
  const b = makeSampler(17, N, d)
  const e = new Float32Array(N)
  const g = new Float32Array(N * d)
  const energy = (x: Float32Array, shift: number) => {
    for (let i = 0; i < N; i++) {
      let u = 0
      for (let k = 0; k < d; k++) {
        const r = x[i * d + k] - shift
        u += 0.5 * r * r
        g[i * d + k] = r
      }
      e[i] = u
    }
  }
  for (const s of [a, b]) {
    s.stepSize = h
    fillNormals(s.positions, { dim: d, seed: 17, stream: 'init' })
    energy(s.positions, 0)
    s.observe(e, g)
    s.logWeights.set(logW)
    s.move()
  }
  // b: observe first, a: resample with the move pending, then observe the same energies.
  energy(b.positions, 0.4)
  b.observe(e, g)
  const incB = b.logWeights.map((v, i) => v - logW[i])
  const anc = a.resample('systematic')
  energy(a.positions, 0.4)
  a.observe(e, g)
  let worst = 0
  for (let j = 0; j < N; j++) {
    if (logW[anc[j]] === -Infinity) {
      worst = Infinity
      continue
    }
    worst = Math.max(worst, Math.abs(a.logWeights[j] - incB[anc[j]]))
  }
  t.true(worst < 1e-9, `walker weights after resample + observe differ from their ancestors' increments by ${worst}`)
  t.true(Math.abs(a.logNormalizerRatio() - b.logNormalizerRatio()) < 0.5, 'same estimate up to resampling noise')
  a.dispose()
  b.dispose()
})

test('maybeResample resamples exactly when ESS < essFraction * N', (t) => {
  const s = makeSampler(19)
  s.logWeights.fill(0)
  t.false(s.maybeResample({ essFraction: 1 }), 'equal weights: ESS = N is not below N')
  t.is(s.resamplings, 0)
  s.logWeights.set(logW)
  const ess = s.ess()
  t.true(ess < N)
  t.false(s.maybeResample({ essFraction: 0 }))
  t.false(s.maybeResample({ essFraction: (ess / N) * (1 - 1e-9), scheme: 'residual' }))
  t.is(s.resamplings, 0)
  assertSameBits(t, s.logWeights, logW, 'weights untouched when not resampling')
  const before = s.logNormalizerRatio()
  t.true(s.maybeResample({ essFraction: (ess / N) * (1 + 1e-9), scheme: 'stratified' }))
  t.is(s.resamplings, 1)
  t.true(s.logWeights.every((v) => v === 0))
  t.true(Math.abs(s.logNormalizerRatio() - before) < 1e-12)
  s.dispose()
})

test('resampling uniforms: fresh for each resampling, reproducible from the seed, systematic by default', (t) => {
  const a = makeSampler(23)
  const b = makeSampler(23)
  const c = makeSampler(24)
  const seq = (s: Sampler, scheme?: ResampleScheme) => {
    const out: number[][] = []
    for (let r = 0; r < 5; r++) {
      s.logWeights.set(logW)
      out.push(Array.from(scheme === undefined ? s.resample() : s.resample(scheme)))
    }
    return out
  }
  const sa = seq(a, 'multinomial')
  t.deepEqual(seq(b, 'multinomial'), sa, 'same seed, same ancestors')
  t.notDeepEqual(seq(c, 'multinomial'), sa, 'another seed, other ancestors')
  for (let r = 1; r < sa.length; r++) t.notDeepEqual(sa[r], sa[0], `resampling ${r} reused the uniforms of resampling 0`)
  const d1 = makeSampler(25)
  const d2 = makeSampler(25)
  t.deepEqual(seq(d1), seq(d2, 'systematic'))
  for (const s of [a, b, c, d1, d2]) s.dispose()
})

test('positions and weights of a resampled population stay bit-identical across thread counts', (t) => {
  const run = (threads: number) => {
    const s = new Sampler({ walkers: 9000, dim: 2, stepSize: 0.1, seed: 29, threads })
    fillNormals(s.positions, { dim: 2, seed: 29, stream: 'init' })
    const a = new Float64Array(9000)
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(i) * 3
    s.logWeights.set(a)
    const anc = s.resample('multinomial')
    return { s, anc }
  }
  const one = run(1)
  const many = run(3)
  t.deepEqual(Array.from(one.anc), Array.from(many.anc))
  assertSameBits(t, one.s.positions, many.s.positions, 'positions')
  t.is(one.s.logNormalizerRatio(), many.s.logNormalizerRatio())
  one.s.dispose()
  many.s.dispose()
})
