/**
 * The image experiment (issue 18): the data pipeline (counts, the 4:2:1 ratio, the pixel range,
 * the block-mean downsampling, seeded subsets, held-out images from the test split), the judging
 * classifier (accuracy on held-out images; the disk cache), the starting model (exact samples of
 * the class-conditional Gaussian mixture and its log Z), and the `smoke` preset end to end through
 * the CLI (JSON lines, report files, checkpoints: a run stopped half-way and resumed gives the same
 * bits as a run straight through).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import {
  digitClassifier,
  fitDigitGaussians,
  loadDigits,
  massesOf,
  mixtureBase,
  mixtureLogZ0,
  MNIST_PRESETS,
  PAPER_DIGITS,
  sampleMixture,
  validateMnistConfig,
  type MnistConfig,
} from '../ts/experiments'
import { initTensorflow, loadTf } from '../ts/tf/backend'
import { jarzyn, MAIN } from './cli-helpers'
import { tempDir } from './train-helpers'


test.before(async () => {
  await initTensorflow()
})

test('data: the paper subsets (5600 / 2800 / 1400 of 2, 3, 6), shuffled, pixels in [-1, 1]', (t) => {
  const d = loadDigits({ split: 'train', ...PAPER_DIGITS, side: 28, seed: 1 })
  t.is(d.count, 9800)
  t.is(d.side, 28)
  t.is(d.images.length, 9800 * 784)
  const counts = [2, 3, 6].map((k) => d.labels.filter((l) => l === k).length)
  t.deepEqual(counts, [5600, 2800, 1400])
  t.is(counts[0] / counts[2], 4)
  t.is(counts[1] / counts[2], 2)
  let lo = Infinity
  let hi = -Infinity
  for (const v of d.images) {
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  t.is(lo, -1, 'background pixels are -1')
  t.is(hi, 1, 'full ink is 1')
  // Shuffled together: the first 700 images are not all one digit, and hold each digit near its share.
  const head = [2, 3, 6].map((k) => d.labels.subarray(0, 700).filter((l) => l === k).length / 700)
  head.forEach((f, i) => t.true(Math.abs(f - [4 / 7, 2 / 7, 1 / 7][i]) < 0.08, `digit ${[2, 3, 6][i]}: ${f} of the first 700`))
})

test('data: seeded subsets; 14x14 is the 2x2 block mean of 28x28; held-out images come from the test split', (t) => {
  const a = loadDigits({ split: 'train', digits: [2, 3], counts: [50, 20], side: 28, seed: 5 })
  const b = loadDigits({ split: 'train', digits: [2, 3], counts: [50, 20], side: 28, seed: 5 })
  const c = loadDigits({ split: 'train', digits: [2, 3], counts: [50, 20], side: 28, seed: 6 })
  t.deepEqual(a.images, b.images)
  t.notDeepEqual(a.images, c.images)
  const s = loadDigits({ split: 'train', digits: [2, 3], counts: [50, 20], side: 14, seed: 5 })
  t.deepEqual(s.labels, a.labels)
  for (const i of [0, 17, 69]) {
    for (const [r, q] of [[0, 0], [7, 6], [13, 13], [5, 9]]) {
      let m = 0
      for (const [dr, dq] of [[0, 0], [0, 1], [1, 0], [1, 1]]) m += a.images[i * 784 + (2 * r + dr) * 28 + 2 * q + dq] / 4
      t.true(Math.abs(s.images[i * 196 + r * 14 + q] - m) < 1e-6, `image ${i} pixel (${r}, ${q})`)
    }
  }
  const all = loadDigits({ split: 'test', digits: [2, 3, 6], side: 28 })
  // MNIST's test split: 1032 twos, 1010 threes, 958 sixes.
  t.deepEqual([2, 3, 6].map((k) => all.labels.filter((l) => l === k).length), [1032, 1010, 958])
  // No held-out image is a training image.
  const train = loadDigits({ split: 'train', digits: [2], counts: [5958], side: 28, seed: 1 })
  const key = (x: Float32Array, i: number) => Buffer.from(x.buffer, x.byteOffset + i * 784 * 4, 784 * 4).toString('base64')
  const seen = new Set(Array.from({ length: train.count }, (_, i) => key(train.images, i)))
  let shared = 0
  for (let i = 0; i < all.count; i++) if (all.labels[i] === 2 && seen.has(key(all.images, i))) shared++
  t.is(shared, 0)
})

test('data: bad selections are coded errors', (t) => {
  const e1 = t.throws(() => loadDigits({ split: 'train', digits: [2], counts: [10], side: 5 }))
  t.is((e1 as { code?: string }).code, 'ERR_JARZYN_INVALID_OPTION')
  const e2 = t.throws(() => loadDigits({ split: 'train', digits: [2, 3], counts: [10], side: 14 }))
  t.is((e2 as { code?: string }).code, 'ERR_JARZYN_BAD_LENGTH')
})

test("classifier: held-out accuracy of the cpu preset's 14x14 classifier above 97 %; the second call loads it from the disk cache", (t) => {
  const dir = tempDir(t, 'mnist-classifier-')
  const before = process.env.JARZYN_CACHE_DIR
  process.env.JARZYN_CACHE_DIR = dir
  try {
    const c = MNIST_PRESETS.cpu
    const train = loadDigits({ split: 'train', digits: [...c.digits], counts: [...c.counts], side: c.side, seed: c.seed })
    const heldOut = loadDigits({ split: 'test', digits: [...c.digits], side: c.side, seed: c.seed + 1 })
    const first = digitClassifier(train, heldOut, [...c.digits])
    t.false(first.cached)
    t.log(`held-out accuracy ${first.accuracy} on ${heldOut.count} test images`)
    t.true(first.accuracy > 0.97, `accuracy ${first.accuracy}`)
    const second = digitClassifier(train, heldOut, [...c.digits])
    t.true(second.cached)
    t.is(second.accuracy, first.accuracy)
    // Masses of the held-out set: near its own proportions (1032 : 1010 : 958).
    const m = massesOf(second.classify(heldOut.images), 3)
    ;[1032, 1010, 958].forEach((n, i) => t.true(Math.abs(m[i] - n / 3000) < 0.02, `mass ${i}: ${m[i]}`))
    first.dispose()
    second.dispose()
  } finally {
    if (before === undefined) delete process.env.JARZYN_CACHE_DIR
    else process.env.JARZYN_CACHE_DIR = before
  }
})

test('starting model: exact stratified samples of the equal-weight mixture; exp(-U) / Z0 is the mixture density (log Z0 known)', (t) => {
  const tf = loadTf()
  const data = loadDigits({ split: 'train', digits: [2, 3, 6], counts: [400, 200, 100], side: 7, seed: 1 })
  const g = fitDigitGaussians(data, [2, 3, 6], 0.01)
  const n = 3000
  const x = sampleMixture(g, n, 9n)
  t.is(x.length, n * 49)
  // Stratified: walker i from component i mod 3; each component's sample mean is its mean within 4 SE.
  const d = 49
  for (let k = 0; k < 3; k++) {
    for (const a of [0, 24, 48]) {
      const v = Array.from({ length: 1000 }, (_, j) => x[(3 * j + k) * d + a])
      const m = v.reduce((p, q) => p + q, 0) / 1000
      const sd = Math.sqrt(v.reduce((p, q) => p + (q - m) ** 2, 0) / 999)
      t.true(Math.abs(m - g.means[k][a]) < 4 * (sd / Math.sqrt(1000)) + 1e-6, `component ${k}, pixel ${a}: ${m} vs ${g.means[k][a]}`)
    }
  }
  // U_base = -log p(x) - log Z0, p the equal-weight mixture density, computed here in f64 by forward
  // substitution with the Cholesky factors: exp(-U) / Z0 is that density, so log Z0 is exact.
  const base = mixtureBase(g)
  const m = 300
  const u = tf.tidy(() => base.energy(tf.tensor2d(x.subarray(0, m * d), [m, d])).dataSync())
  const logZ0 = mixtureLogZ0(g)
  t.is(logZ0, 0.5 * d * Math.log(2 * Math.PI) + Math.log(3))
  for (let i = 0; i < m; i += 37) {
    const terms = g.chol.map((L, c) => {
      const y = new Float64Array(d)
      let q = 0
      for (let a = 0; a < d; a++) {
        let r = x[i * d + a] - g.means[c][a]
        for (let b = 0; b < a; b++) r -= L[a * d + b] * y[b]
        y[a] = r / L[a * d + a]
        q += y[a] ** 2
      }
      return -0.5 * q - g.logDet[c] - 0.5 * d * Math.log(2 * Math.PI) - Math.log(3)
    })
    const top = Math.max(...terms)
    const logp = top + Math.log(terms.reduce((p, v) => p + Math.exp(v - top), 0))
    t.true(Math.abs(u[i] - (-logp - logZ0)) < 1e-3 * Math.max(1, Math.abs(u[i])), `walker ${i}: U ${u[i]} vs ${-logp - logZ0}`)
  }
  base.logWeights.dispose()
})

test('config: the presets validate; bad fields are ERR_JARZYN_INVALID_OPTION', (t) => {
  for (const p of Object.values(MNIST_PRESETS)) t.notThrows(() => validateMnistConfig(p as MnistConfig))
  const bad = (patch: Partial<MnistConfig>) => (t.throws(() => validateMnistConfig({ ...(MNIST_PRESETS.cpu as MnistConfig), ...patch })) as { code?: string }).code
  t.is(bad({ side: 5 }), 'ERR_JARZYN_INVALID_OPTION')
  t.is(bad({ walkers: 1000 }), 'ERR_JARZYN_INVALID_OPTION')
  t.is(bad({ methods: [] }), 'ERR_JARZYN_INVALID_OPTION')
  t.is(bad({ stepSize: -1 }), 'ERR_JARZYN_INVALID_OPTION')
})

const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

test('CLI: `jarzyn mnist --preset smoke` end to end: JSON lines, the report, and a resumed run equal to a run straight through', async (t) => {
  t.true(existsSync(MAIN), `${MAIN} is missing: run \`npm run build\` first`)
  const out = tempDir(t, 'mnist-smoke-')
  const straight = await jarzyn(['mnist', '--preset', 'smoke', '--method', 'all', '--json', '--out', join(out, 'report'), '--quiet'])
  t.is(straight.code, 0, straight.stderr)
  const rows = lines(straight.stdout)
  t.deepEqual(rows.map((r) => r.method), ['jarzynski', 'pcd', 'cd'])
  for (const r of rows) {
    t.deepEqual(Object.keys(r.masses as object).sort(), ['2', '3', '6'])
    const total = Object.values(r.masses as Record<string, number>).reduce((a, b) => a + b, 0)
    t.true(Math.abs(total - 1) < 1e-9, `masses sum to ${total}`)
    t.true((r.classifierAccuracy as number) > 0.9, `classifier accuracy ${r.classifierAccuracy}`)
    t.true((r.seconds as number) > 0)
    t.is(r.iterations, 20)
  }
  t.true(rows[0].exactWeights as boolean)
  const dir = join(out, 'report')
  for (const f of ['report.html', 'results.json', 'series.json', 'series.csv', 'masses.svg', 'ess.svg', 'logz.svg', 'data.png', 'walkers-jarzynski-end.png', 'walkers-pcd-start.png']) {
    t.true(existsSync(join(dir, f)), `${f} missing`)
  }
  t.deepEqual([...readFileSync(join(dir, 'walkers-jarzynski-end.png')).subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'a PNG')
  t.regex(readFileSync(join(dir, 'report.html'), 'utf8'), /walkers-jarzynski-end\.png/)
  // The reported masses and their spread are the mean and standard deviation of the measurements
  // at or after update 10 (tail 0.5 of 20; measured every 5 updates: 10, 15, 20).
  const series = JSON.parse(readFileSync(join(dir, 'series.json'), 'utf8')) as Record<string, { iteration: number[]; masses: number[][] }>
  for (const r of rows) {
    const sr = series[r.method as string]
    const tail = sr.iteration.flatMap((it, j) => (it >= 10 ? [sr.masses[j]] : []))
    t.is(r.tailMeasurements, 3)
    t.is(tail.length, 3)
    ;['2', '3', '6'].forEach((d, c) => {
      const mean = tail.reduce((a, m) => a + m[c], 0) / 3
      const sd = Math.sqrt(tail.reduce((a, m) => a + (m[c] - mean) ** 2, 0) / 3)
      t.true(Math.abs((r.masses as Record<string, number>)[d] - mean) < 1e-12, `${r.method} ${d}: mean`)
      t.true(Math.abs((r.massesSd as Record<string, number>)[d] - sd) < 1e-12, `${r.method} ${d}: sd`)
    })
  }

  // Stopped after 10 updates (the checkpoint), then resumed to 20: the same results, bit for bit.
  const ck = join(out, 'ckpt')
  const half = await jarzyn(['mnist', '--preset', 'smoke', '--iterations', '10', '--json', '--checkpoint', ck, '--quiet'])
  t.is(half.code, 0, half.stderr)
  const rest = await jarzyn(['mnist', '--preset', 'smoke', '--json', '--checkpoint', ck, '--quiet'])
  t.is(rest.code, 0, rest.stderr)
  const resumed = lines(rest.stdout)
  for (const [i, r] of resumed.entries()) {
    t.deepEqual(r.masses, rows[i].masses, `${r.method}: masses after resuming`)
    t.deepEqual(r.finalMasses, rows[i].finalMasses)
    t.is(r.resamplings, rows[i].resamplings)
  }
})

test('CLI: `jarzyn mnist` usage errors exit 2; --help names the presets', async (t) => {
  const help = await jarzyn(['mnist', '--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /--preset P\s+cpu \| paper \| smoke/)
  for (const args of [['--preset', 'gpu'], ['--method', 'jarzynski,foo'], ['--walkers', '1000'], ['--step-size', 'x'], ['--resample', 'bogus'], ['--schedule', 'cosine']]) {
    const r = await jarzyn(['mnist', ...args, '--quiet'])
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stderr, /^jarzyn: /)
  }
  for (const bad of ['0', '-3', '2.5', 'many']) {
    const r = await jarzyn(['mnist', '--quiet'], { ...process.env, JARZYN_MNIST_ITERATIONS: bad })
    t.is(r.code, 2, `JARZYN_MNIST_ITERATIONS=${bad}: ${r.stderr}`)
    t.regex(r.stderr, /^jarzyn: JARZYN_MNIST_ITERATIONS must be a positive integer/)
  }
})

test('CLI: JARZYN_MNIST_ITERATIONS sets the default of --iterations (the README\'s quick look); the flag wins', async (t) => {
  const { parseMnistArgs } = await import('../ts/experiments/mnist/command')
  // Synchronous from here to the restore: the other tests' commands, spawned with process.env,
  // never see the variable.
  const saved = process.env.JARZYN_MNIST_ITERATIONS
  try {
    delete process.env.JARZYN_MNIST_ITERATIONS
    t.is(parseMnistArgs([], 2).config.iterations, 2000)
    process.env.JARZYN_MNIST_ITERATIONS = '37'
    t.is(parseMnistArgs([], 2).config.iterations, 37)
    t.is(parseMnistArgs(['--preset', 'smoke'], 2).config.iterations, 37)
    t.is(parseMnistArgs(['--iterations', '5'], 2).config.iterations, 5)
    t.is(parseMnistArgs([], 2).config.schedule, 'linear')
    t.is(parseMnistArgs(['--schedule', 'constant'], 2).config.schedule, 'constant')
    process.env.JARZYN_MNIST_ITERATIONS = ''
    t.is(parseMnistArgs([], 2).config.iterations, 2000)
  } finally {
    if (saved === undefined) delete process.env.JARZYN_MNIST_ITERATIONS
    else process.env.JARZYN_MNIST_ITERATIONS = saved
  }
})

test("API: the paper preset's code path (28x28, the authors' CNN, noise start with burn-in, decoupled noise, linear decay, clipping) runs; its weights are flagged not exact", async (t) => {
  const { runMnistExperiment, PAPER_MNIST_CONFIG } = await import('../ts/experiments')
  const config: MnistConfig = { ...PAPER_MNIST_CONFIG, methods: ['jarzynski'], counts: [40, 20, 10], walkers: 8, batches: 4, burnIn: 3, iterations: 4, record: 2, dataBatch: 8 }
  const [r] = await runMnistExperiment(config)
  t.is(r.iterations, 4)
  t.false(r.exactWeights)
  t.regex(r.init, /uniform noise on \[-1, 1\] then 3 unweighted ULA steps/)
  t.deepEqual(r.series.iteration, [2, 4])
  t.is(r.samples.final.length, 8 * 784)
  const total = Object.values(r.masses).reduce((a, b) => a + b, 0)
  t.true(Math.abs(total - 1) < 1e-9)
})
