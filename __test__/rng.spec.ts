/**
 * fillNormals: standard normals from named counter-based streams. Moments and tail masses are
 * checked against N(0, 1) within 5 standard errors of the sample estimates.
 */
import test from 'ava'

import { fillNormals } from '../ts/index'
import { assertSameBits } from './bits'

/** Mean of f over the sample and its standard error. */
function est(z: Float32Array, f: (v: number, i: number) => number): { mean: number; se: number } {
  let s = 0
  let s2 = 0
  for (let i = 0; i < z.length; i++) {
    const v = f(z[i], i)
    s += v
    s2 += v * v
  }
  const n = z.length
  const mean = s / n
  return { mean, se: Math.sqrt(Math.max(s2 / n - mean * mean, 0) / n) }
}

test('fillNormals draws N(0, 1): moments, tail masses and lag correlations within 5 SE', (t) => {
  const dim = 6
  const z = fillNormals(new Float32Array(dim * 200_000), { dim, seed: 2024, stream: 'user' })
  // Exact values for N(0, 1); each statistic's SE from the sample itself.
  const checks: Array<[string, (v: number, i: number) => number, number]> = [
    ['E z', (v) => v, 0],
    ['E z^2', (v) => v * v, 1],
    ['E z^3', (v) => v ** 3, 0],
    ['E z^4', (v) => v ** 4, 3],
    ['P(|z| < 1)', (v) => (Math.abs(v) < 1 ? 1 : 0), 0.6826894921370859],
    ['P(z > 2)', (v) => (v > 2 ? 1 : 0), 0.022750131948179195],
    ['P(|z| > 3)', (v) => (Math.abs(v) > 3 ? 1 : 0), 0.0026997960632601866],
    ['E z_i z_(i+1)', (v, i) => (i + 1 < z.length ? v * z[i + 1] : 0), 0],
    ['E z_i^2 z_(i+1)^2', (v, i) => (i + 1 < z.length ? v * v * z[i + 1] ** 2 : 1), 1],
    ['E z_i z_(i+dim) (walker to walker)', (v, i) => (i + dim < z.length ? v * z[i + dim] : 0), 0],
    ['E z_i z_(i+4) (block to block)', (v, i) => (i + 4 < z.length ? v * z[i + 4] : 0), 0],
  ]
  for (const [name, f, exact] of checks) {
    const r = est(z, f)
    const zScore = (r.mean - exact) / r.se
    t.true(Math.abs(zScore) < 5, `${name}: ${r.mean} vs ${exact} (se ${r.se}, z ${zScore.toFixed(2)})`)
  }
  // Per coordinate of a walker too: no coordinate is biased or scaled (each has 200k draws).
  for (let j = 0; j < dim; j++) {
    let s = 0
    let s2 = 0
    for (let i = j; i < z.length; i += dim) {
      s += z[i]
      s2 += z[i] * z[i]
    }
    const n = z.length / dim
    t.true(Math.abs(s / n) < 5 / Math.sqrt(n), `coordinate ${j}: mean ${s / n}`)
    t.true(Math.abs(s2 / n - 1) < 5 * Math.sqrt(2 / n), `coordinate ${j}: second moment ${s2 / n}`)
  }
})

test('fillNormals is a pure function of (seed, stream, step, walker), returns `out`', (t) => {
  const dim = 3
  const base = { dim, seed: 9 }
  const out = new Float32Array(dim * 50)
  t.is(fillNormals(out, base), out)
  assertSameBits(t, fillNormals(new Float32Array(dim * 50), base), out, 'repeat')
  assertSameBits(t, fillNormals(new Float32Array(dim * 50), { dim, seed: 9n }), out, 'bigint seed')
  assertSameBits(t, fillNormals(new Float32Array(dim * 50), { ...base, stream: 'user', step: 0, walker0: 0 }), out, 'defaults')
  const variants: Array<[string, object]> = [
    ['seed', { seed: 10 }],
    ['seed high bits', { seed: 9 + 2 ** 32 }],
    ['stream noise', { stream: 'noise' }],
    ['stream resample', { stream: 'resample' }],
    ['stream init', { stream: 'init' }],
    ['step', { step: 1 }],
    ['step high bits', { step: 2 ** 32 }],
    ['walker0', { walker0: 1 }],
  ]
  for (const [name, v] of variants) {
    const o = fillNormals(new Float32Array(dim * 50), { ...base, ...v })
    let same = 0
    for (let i = 0; i < o.length; i++) if (o[i] === out[i]) same++
    t.true(same <= 2, `${name}: ${same} of ${o.length} numbers equal`)
  }
  // walker0 shifts rows: walkers 1.. of the base fill.
  const shifted = fillNormals(new Float32Array(dim * 49), { ...base, walker0: 1 })
  assertSameBits(t, shifted, out.subarray(dim), 'walker0 = 1')
  // An empty array is fine.
  t.is(fillNormals(new Float32Array(0), base).length, 0)
})
