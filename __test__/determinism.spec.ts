/**
 * Reproducibility: same seed, same bits, whatever the thread count; the sampler's Langevin noise
 * is exactly what fillNormals(..., { stream: 'noise' }) returns.
 */
import test from 'ava'

import { Sampler, fillNormals } from '../ts/index'
import { assertSameBits, sameBits } from './bits'

/**
 * N spans several parallel work items: the core splits moves into chunks of 16384 / d walkers and
 * reductions into chunks of 4096 walkers, so 25013 walkers in d = 3 make 5 and 7 uneven chunks.
 */
const N = 25013
const D = 3

/** A tilted double well whose parameters change with the iteration k. */
function energy(x: Float32Array, k: number, e: Float32Array, g: Float32Array): void {
  const a = 0.5 + 0.01 * k
  const c = 0.05 * Math.sin(k)
  for (let i = 0; i < e.length; i++) {
    let u = 0
    for (let j = 0; j < D; j++) {
      const v = x[i * D + j]
      u += (a * v ** 4) / 4 - (v * v) / 2 + c * v
      g[i * D + j] = a * v ** 3 - v + c
    }
    e[i] = u
  }
}

interface Trace {
  positions: Float32Array[]
  logWeights: Float64Array[]
  logZ: number[]
  resampled: boolean[]
}

function run(seed: number | bigint, threads: number, iters = 8): Trace {
  const s = new Sampler({ walkers: N, dim: D, stepSize: 0.1, seed, threads })
  fillNormals(s.positions, { dim: D, seed: 5, stream: 'init' })
  const e = new Float32Array(N)
  const g = new Float32Array(N * D)
  energy(s.positions, 0, e, g)
  s.observe(e, g)
  const tr: Trace = { positions: [], logWeights: [], logZ: [], resampled: [] }
  for (let k = 0; k < iters; k++) {
    s.move()
    energy(s.positions, k + 1, e, g)
    s.observe(e, g)
    tr.resampled.push(s.maybeResample({ essFraction: 0.7, scheme: k % 2 ? 'multinomial' : 'systematic' }))
    tr.positions.push(s.positions.slice())
    tr.logWeights.push(s.logWeights.slice())
    tr.logZ.push(s.logNormalizerRatio())
  }
  s.dispose()
  return tr
}

test('same seed: bit-identical positions, log-weights and log Z for 1, 2 and 7 threads; another seed differs', (t) => {
  const ref = run(42, 1)
  // The run must exercise both branches of maybeResample for the comparison to mean something.
  t.true(ref.resampled.some((r) => r) && ref.resampled.some((r) => !r), `resampled: ${ref.resampled}`)
  for (const threads of [2, 7]) {
    const other = run(42, threads)
    t.deepEqual(other.resampled, ref.resampled)
    for (let k = 0; k < ref.positions.length; k++) {
      assertSameBits(t, other.positions[k], ref.positions[k], `threads ${threads}, iteration ${k}, positions`)
      assertSameBits(t, other.logWeights[k], ref.logWeights[k], `threads ${threads}, iteration ${k}, logWeights`)
      t.true(Object.is(other.logZ[k], ref.logZ[k]), `threads ${threads}, iteration ${k}: log Z ${other.logZ[k]} vs ${ref.logZ[k]}`)
    }
  }
  const diff = run(43, 2, 2)
  t.false(sameBits(diff.positions[1], ref.positions[1]))
  t.false(sameBits(diff.logWeights[1], ref.logWeights[1]))
  // Almost every coordinate differs, not just a few.
  let same = 0
  for (let i = 0; i < N * D; i++) if (diff.positions[0][i] === ref.positions[0][i]) same++
  t.true(same < N * D * 0.01, `${same} coordinates equal under another seed`)
})

test('seeds: number and bigint agree; the high 32 bits matter; a random seed can be read back and replayed', (t) => {
  const noise = (seed: number | bigint | undefined) => {
    const s = new Sampler({ walkers: 100, dim: 2, stepSize: 0.5, seed, threads: 1 })
    s.observe(new Float32Array(100), new Float32Array(200))
    s.move()
    const x = s.positions.slice()
    const used = s.seed
    s.dispose()
    return { x, used }
  }
  const a = noise(42)
  t.is(a.used, 42n)
  assertSameBits(t, noise(42n).x, a.x, 'seed 42 vs 42n')
  t.false(sameBits(noise(2 ** 32 + 42).x, a.x), 'seed 2^32 + 42 equals seed 42')
  t.false(sameBits(noise(0).x, noise(2 ** 32).x), 'seed 2^32 equals seed 0')
  const top = noise((1n << 64n) - 1n)
  t.is(top.used, (1n << 64n) - 1n)
  t.true(top.x.every(Number.isFinite))
  const r1 = noise(undefined)
  const r2 = noise(undefined)
  t.is(typeof r1.used, 'bigint')
  t.not(r1.used, r2.used, 'two default seeds coincide')
  assertSameBits(t, noise(r1.used).x, r1.x, 'replaying the drawn seed')
})

for (const dim of [4, 5]) {
  test(`the sampler's noise is fillNormals' 'noise' stream, step by step (d = ${dim})`, (t) => {
    // d = 4 fills whole Philox blocks; d = 5 uses padded blocks: both paths of the core.
    const n = 1500
    const seed = 77
    const h = 0.37
    const s = new Sampler({ walkers: n, dim, stepSize: h, seed, threads: 2 })
    fillNormals(s.positions, { dim, seed: 1, stream: 'init' })
    const f = Math.fround
    const sf = f(Math.sqrt(2 * h))
    const zeroE = new Float32Array(n)
    const zeroG = new Float32Array(n * dim)
    s.observe(zeroE, zeroG)
    for (let step = 0; step < 3; step++) {
      const x = s.positions.slice()
      s.move()
      const z = fillNormals(new Float32Array(n * dim), { dim, seed, stream: 'noise', step })
      let exact = 0
      let worst = 0
      for (let i = 0; i < n * dim; i++) {
        // Gradients are zero: x + sqrt(2h) z, rounded to f32 exactly as the core does.
        if (f(x[i] + f(sf * z[i])) === s.positions[i]) exact++
        const step2h = Math.sqrt(2 * h) * z[i]
        worst = Math.max(worst, Math.abs(s.positions[i] - (x[i] + step2h)) / (Math.abs(x[i]) + Math.abs(step2h)))
      }
      t.is(exact, n * dim, `step ${step}: ${n * dim - exact} coordinates differ from old + sqrt(2h) z`)
      t.true(worst < 2 ** -22, `step ${step}: relative deviation ${worst} beyond f32 rounding`)
      // walker0: the same numbers for a slice of walkers.
      const part = fillNormals(new Float32Array(7 * dim), { dim, seed, stream: 'noise', step, walker0: 600 })
      assertSameBits(t, part, z.subarray(600 * dim, 607 * dim), `step ${step}, walker0 600`)
      s.observe(zeroE, zeroG)
    }
    t.is(s.steps, 3)
    s.dispose()
  })
}
