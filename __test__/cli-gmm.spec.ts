/**
 * The `jarzyn gmm` command, run as a user runs it: `node dist/cli/main.js gmm ...` (build first).
 * Small configurations; stdout, stderr, exit codes and the report folder are checked.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'

import test from 'ava'

import { cudaStatus } from '../ts/index'
import { jarzyn, MAIN } from './cli-helpers'
import { tempDir } from './train-helpers'

const SMALL = ['--dim', '5', '--data', '500', '--walkers', '500', '--iterations', '200', '--threads', '2']
const JSON_KEYS = ['method', 'weights', 'dataWeights', 'klExact', 'klEstimate', 'resamplings', 'iterations', 'seconds']

test.before(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` before the CLI tests`)
})

/** A minimal well-formedness check: one root <svg>, tags balanced, no raw '<' or stray '&' in text. */
function assertWellFormedSvg(t: import('ava').ExecutionContext, svg: string, name: string) {
  const s = svg.trim()
  t.true(s.startsWith('<svg'), `${name} starts with ${JSON.stringify(s.slice(0, 20))}`)
  t.true(s.endsWith('</svg>'), `${name} does not end with </svg>`)
  t.regex(s, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `${name}: no SVG namespace`)
  const stack: string[] = []
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/g
  let last = 0
  let m: RegExpExecArray | null
  let roots = 0
  while ((m = tag.exec(s)) !== null) {
    const text = s.slice(last, m.index)
    t.false(/[<>]|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-fA-F]+);)/.test(text), `${name}: bad character data ${JSON.stringify(text.slice(0, 60))}`)
    last = tag.lastIndex
    if (m[1] === '/') {
      const open = stack.pop()
      if (open !== m[2]) return t.fail(`${name}: </${m[2]}> closes <${open}>`)
    } else if (m[4] !== '/') {
      if (stack.length === 0) roots++
      stack.push(m[2])
    } else if (stack.length === 0) roots++
  }
  t.is(s.slice(last), '', `${name}: trailing text or an unparsed tag`)
  t.deepEqual(stack, [], `${name}: unclosed tags`)
  t.is(roots, 1, `${name}: one root element`)
}

test('--method all --json --out DIR: three JSON lines in order, pure stdout, progress on stderr, a complete report', async (t) => {
  const dir = join(tempDir(t), 'report')
  const r = await jarzyn(['gmm', ...SMALL, '--method', 'all', '--json', '--out', dir])
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.is(lines.pop(), '', 'stdout ends with a newline')
  t.is(lines.length, 3, `stdout: ${r.stdout}`)
  const results = lines.map((l) => JSON.parse(l))
  t.deepEqual(
    results.map((x) => x.method),
    ['jarzynski', 'pcd', 'cd'],
  )
  for (const x of results) {
    for (const k of JSON_KEYS) t.true(k in x, `${x.method}: key ${k} missing`)
    t.is(x.weights.length, 2)
    t.true(Math.abs(x.weights[0] + x.weights[1] - 1) < 1e-12)
    t.deepEqual(x.dataWeights, [0.25, 0.75])
    t.is(x.iterations, 200)
    t.true(Number.isFinite(x.klExact) && x.klExact > 0)
    t.true(Number.isInteger(x.resamplings) && x.resamplings >= 0)
    t.true(x.seconds > 0)
    t.false('series' in x || 'walkers' in x, 'the per-iteration series stay out of stdout')
  }
  t.is(typeof results[0].klEstimate, 'number')
  t.is(results[1].klEstimate, null)
  t.is(results[2].klEstimate, null)
  // Not a TTY: plain progress lines, all on stderr (stdout parsed as pure JSON above).
  t.regex(r.stderr, /^Jarzynski: 200\/200 \(100%\)/m)
  t.regex(r.stderr, /^PCD: 200\/200 \(100%\)/m)
  t.regex(r.stderr, /^CD: 200\/200 \(100%\)/m)
  t.false(r.stderr.includes('\r') || r.stderr.includes('\x1b['), 'no terminal control codes when not a TTY')

  const files = readdirSync(dir).sort()
  t.deepEqual(files, ['ess.svg', 'khat.svg', 'kl.svg', 'mode-weight.svg', 'report.html', 'results.json', 'series.csv', 'series.json', 'walkers.svg'])
  for (const f of files.filter((f) => f.endsWith('.svg'))) assertWellFormedSvg(t, readFileSync(join(dir, f), 'utf8'), f)

  const html = readFileSync(join(dir, 'report.html'), 'utf8')
  t.regex(html, /^<!doctype html>/i)
  t.regex(html, /<\/html>\s*$/)
  t.is((html.match(/<svg class="plot"/g) ?? []).length, 5, 'the five plots are inlined')
  t.regex(html, /Weight diagnostics<\/b> \(Jarzynski, every 10 iterations/)
  for (const link of ['series.json', 'series.csv', 'results.json']) t.true(html.includes(`href="${link}"`))

  const summary = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'))
  t.deepEqual(summary.results, results, 'results.json holds what stdout printed')
  t.like(summary.config, { dim: 5, dataPoints: 500, walkers: 500, iterations: 200, methods: ['jarzynski', 'pcd', 'cd'] })

  const series = JSON.parse(readFileSync(join(dir, 'series.json'), 'utf8'))
  t.deepEqual(
    series.map((s: { method: string }) => s.method),
    ['jarzynski', 'pcd', 'cd'],
  )
  for (const s of series) {
    const n = s.iteration.length
    t.is(s.iteration[0], 0)
    t.is(s.iteration[n - 1], 199)
    for (const key of ['klExact', 'klEstimate', 'essFraction', 'resampled', 'logZ', 'logZExact', 'khat', 'cessFraction']) t.is(s[key].length, n, `${s.method}.${key}`)
    // The weight diagnostics: Jarzynski, every 10th iteration (JSON writes NaN and -Infinity as null).
    // (k-hat is -Infinity, so null, for equal weights: at 0 and right after a resampling.)
    s.khat.forEach((v: number | null, j: number) => t.true(v === null || (s.method === 'jarzynski' && j % 10 === 0), `${s.method} k-hat at ${j}: ${v}`))
    s.cessFraction.forEach((v: number | null, j: number) => t.is(v !== null, s.method === 'jarzynski' && j % 10 === 0))
    t.is(s.weights.length, 2)
    t.is(s.weights[0].length, n)
  }

  const csv = readFileSync(join(dir, 'series.csv'), 'utf8').trimEnd().split('\n')
  const head = csv[0].split(',')
  t.deepEqual(head, ['method', 'iteration', 'weight0', 'weight1', 'kl_exact', 'kl_estimate', 'ess_fraction', 'resampled', 'logz_estimate', 'logz_exact', 'khat', 'cess_fraction'])
  const rows = csv.slice(1).map((l) => l.split(','))
  t.is(rows.length, series.reduce((a: number, s: { iteration: number[] }) => a + s.iteration.length, 0))
  for (const row of rows) {
    t.is(row.length, head.length)
    t.true(['jarzynski', 'pcd', 'cd'].includes(row[0]))
    for (const i of [1, 2, 3, 4, 6, 7, 9]) t.true(Number.isFinite(Number(row[i])) && row[i] !== '', `column ${head[i]}: '${row[i]}'`)
    // Estimates exist for Jarzynski only; empty cells otherwise.
    if (row[0] === 'jarzynski') t.true(Number.isFinite(Number(row[5])) && row[5] !== '')
    else t.is(row[5], '')
    // k-hat and CESS/N: Jarzynski's every 10th iteration (k-hat -Infinity at 0: equal weights), empty elsewhere.
    const diagnosed = row[0] === 'jarzynski' && Number(row[1]) % 10 === 0
    t.is(row[10] !== '', diagnosed, `k-hat cell '${row[10]}' at ${row[0]} ${row[1]}`)
    t.is(row[11] !== '', diagnosed)
    if (diagnosed) {
      t.true(row[1] === '0' ? row[10] === '-Infinity' : row[10] === '-Infinity' || Number.isFinite(Number(row[10])), `k-hat '${row[10]}'`)
      t.true(Number(row[11]) > 0 && Number(row[11]) <= 1, `CESS/N '${row[11]}'`)
    }
  }
  const j = series[0]
  const jRows = rows.filter((r) => r[0] === 'jarzynski')
  t.is(Number(jRows[3][2]), j.weights[0][3], 'CSV and JSON series agree')
})

test('--json with one method: one line; --quiet leaves stderr empty; the table without --json', async (t) => {
  const [one, table] = await Promise.all([jarzyn(['gmm', ...SMALL, '--method', 'cd', '--json', '--quiet']), jarzyn(['gmm', ...SMALL, '--iterations', '20', '--method', 'pcd', '--quiet'])])
  t.is(one.code, 0, one.stderr)
  t.is(one.stderr, '')
  const lines = one.stdout.trimEnd().split('\n')
  t.is(lines.length, 1)
  t.is(JSON.parse(lines[0]).method, 'cd')
  t.is(table.code, 0, table.stderr)
  t.is(table.stderr, '')
  t.regex(table.stdout, /^method\s+learned weights/)
  t.regex(table.stdout, /\nPCD\s+0\.\d{3}, 0\.\d{3}\s+0\.250, 0\.750/)
})

test('--threads does not change the results; --resample SCHEME:cv2=C and off reach the configuration', async (t) => {
  const dir = tempDir(t)
  const base = ['gmm', '--dim', '3', '--data', '300', '--walkers', '300', '--iterations', '60', '--method', 'all', '--json', '--quiet']
  const [one, two, cv2, off] = await Promise.all([
    jarzyn([...base, '--threads', '1']),
    jarzyn([...base, '--threads', '2']),
    jarzyn([...base, '--threads', '2', '--resample', 'multinomial:cv2=1', '--out', join(dir, 'cv2')]),
    jarzyn([...base, '--threads', '2', '--resample', 'off', '--out', join(dir, 'off')]),
  ])
  for (const r of [one, two, cv2, off]) t.is(r.code, 0, r.stderr)
  const strip = (out: string) =>
    out
      .trimEnd()
      .split('\n')
      .map((l) => {
        const { seconds: _s, timings: _t, samplerShare: _p, ...rest } = JSON.parse(l)
        return rest
      })
  t.deepEqual(strip(one.stdout), strip(two.stdout), 'same seed, different thread counts: same numbers')
  const cfg = (name: string) => JSON.parse(readFileSync(join(dir, name, 'results.json'), 'utf8')).config
  t.deepEqual(cfg('cv2').resample, { scheme: 'multinomial', essFraction: 0.5 })
  t.is(cfg('off').resample, null)
  t.is(JSON.parse(off.stdout.split('\n')[0]).resamplings, 0)
})

/** A usage-error case: label, argv, what stderr must say, and the environment (default: this one). */
type UsageCase = [string, string[], RegExp, NodeJS.ProcessEnv?]

/** Each case exits 2 with one "jarzyn: ..." line on stderr matching its pattern, no stack trace, nothing on stdout. */
async function assertUsageErrors(t: import('ava').ExecutionContext, cases: UsageCase[]): Promise<void> {
  const runs = await Promise.all(cases.map(([, args, , env]) => jarzyn(args, env)))
  cases.forEach(([label, , re], i) => {
    const r = runs[i]
    t.is(r.code, 2, `${label}: exit code ${r.code}; stderr ${r.stderr}`)
    t.is(r.stdout, '', `${label}: stdout ${JSON.stringify(r.stdout)}`)
    t.regex(r.stderr, /^jarzyn: [^\n]+\n$/, `${label}: stderr must be one line: ${JSON.stringify(r.stderr)}`)
    t.regex(r.stderr, re, label)
    t.false(/\n\s+at /.test(r.stderr), `${label}: stack trace`)
  })
}

test('bad options: one line on stderr starting with "jarzyn:", no stack trace, exit code 2, nothing on stdout', async (t) => {
  const cases: UsageCase[] = [
    ['unknown flag', ['gmm', '--foo'], /--foo/],
    ['weights not summing to 1', ['gmm', '--weights', '0.5,0.6'], /sum to 1/],
    ['negative step size (--opt=value)', ['gmm', '--step-size=-0.1'], /--step-size/],
    ['zero step size', ['gmm', '--step-size', '0'], /--step-size/],
    ['mismatched --means/--weights', ['gmm', '--means', '1,2,3'], /--means has 3 entries but --weights has 2/],
    ['mismatched --means/--weights (2)', ['gmm', '--means=-3,4', '--weights', '0.2,0.3,0.5'], /--means has 2/],
    ['non-numeric --dim', ['gmm', '--dim', 'abc'], /--dim/],
    ['fractional --dim', ['gmm', '--dim', '2.5'], /--dim/],
    ['zero --walkers', ['gmm', '--walkers', '0'], /--walkers/],
    ['bad --resample scheme', ['gmm', '--resample', 'lottery'], /--resample/],
    ['bad --resample fraction', ['gmm', '--resample', 'systematic:1.5'], /--resample/],
    ['bad --resample cv2', ['gmm', '--resample', 'residual:cv2=x'], /--resample/],
    ['bad --method', ['gmm', '--method', 'mcmc'], /--method/],
    ['bad --device', ['gmm', '--device', 'gpu'], /--device must be cpu, cuda, auto, got 'gpu'/],
    ['missing --device value', ['gmm', '--device'], /--device/],
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['positional argument', ['gmm', 'extra'], /extra/],
    ['flag with a value', ['gmm', '--json=yes'], /--json/],
    ['missing value', ['gmm', '--out'], /--out/],
  ]
  await assertUsageErrors(t, cases)
})

test('every flag validated before any work: counts, numbers, presets, --out, JARZYN_GMM_ITERATIONS (exit 2, one line, nothing written)', async (t) => {
  const dir = tempDir(t, 'jarzyn-cli-out-')
  const file = join(dir, 'a-file')
  writeFileSync(file, 'not a folder')
  const cases: UsageCase[] = [
    ['negative --walkers', ['gmm', '--walkers', '-5'], /--walkers must be a positive integer/],
    ['negative --iterations', ['gmm', '--iterations=-1'], /--iterations must be a positive integer/],
    ['negative --data', ['gmm', '--data', '-3'], /--data must be a positive integer/],
    ['negative --seed', ['gmm', '--seed', '-1'], /--seed/],
    ['zero --threads', ['gmm', '--threads', '0'], /--threads/],
    ['zero --cd-reset', ['gmm', '--cd-reset', '0'], /--cd-reset/],
    ['NaN learning rate', ['gmm', '--lr-means', 'NaN'], /--lr-means expects a number/],
    ['infinite learning rate', ['gmm', '--lr-logweights', 'Infinity'], /--lr-logweights expects a number/],
    ['empty number', ['gmm', '--dim='], /--dim expects a number/],
    ['hex-looking count', ['gmm', '--walkers', '0x10z'], /--walkers expects a number/],
    ['unknown preset', ['gmm', '--preset', 'fast'], /--preset must be jarzyn or paper, got 'fast'/],
    ['--out is a file', ['gmm', '--out', file], /--out .*exists and is not a folder/],
    ['--out under a file', ['gmm', '--out', join(file, 'report')], /--out .*exists and is not a folder/],
    ['bad JARZYN_GMM_ITERATIONS', ['gmm'], /JARZYN_GMM_ITERATIONS must be a positive integer, got 'many'/, { ...process.env, JARZYN_GMM_ITERATIONS: 'many' }],
  ]
  // Root may write anywhere; /proc refuses new entries for everyone (and hangs Node's recursive mkdir).
  if (process.platform === 'linux') cases.push(['--out not creatable', ['gmm', '--out', '/proc/jarzyn-no/report'], /--out \/proc\/jarzyn-no\/report is not writable/])
  await assertUsageErrors(t, cases)
  t.is(readFileSync(file, 'utf8'), 'not a folder')
})

test('--preset paper runs multinomial resampling at CV^2 > 1; the default preset is systematic at ESS/N < 0.5; JARZYN_GMM_ITERATIONS sets the default of --iterations; the report states the configuration', async (t) => {
  const dir = tempDir(t, 'jarzyn-cli-preset-')
  const small = ['--dim', '3', '--data', '200', '--walkers', '200', '--threads', '2', '--quiet']
  const env = { ...process.env, JARZYN_GMM_ITERATIONS: '30' }
  const [paper, dflt, explicit] = await Promise.all([
    jarzyn(['gmm', ...small, '--preset', 'paper', '--out', join(dir, 'paper')], env),
    jarzyn(['gmm', ...small, '--out', join(dir, 'default')], env),
    jarzyn(['gmm', ...small, '--preset', 'paper', '--resample', 'residual:0.7', '--iterations', '12', '--out', join(dir, 'explicit')], env),
  ])
  for (const r of [paper, dflt, explicit]) t.is(r.code, 0, r.stderr)
  const read = (name: string) => JSON.parse(readFileSync(join(dir, name, 'results.json'), 'utf8'))
  const p = read('paper')
  const d = read('default')
  const e = read('explicit')
  t.deepEqual(p.config.resample, { scheme: 'multinomial', essFraction: 0.5 })
  t.deepEqual(d.config.resample, { scheme: 'systematic', essFraction: 0.5 })
  t.deepEqual(e.config.resample, { scheme: 'residual', essFraction: 0.7 }, 'an explicit option overrides the preset')
  t.is(p.meta.preset, 'paper')
  t.is(d.meta.preset, 'jarzyn')
  t.is(p.results[0].iterations, 30)
  t.is(e.results[0].iterations, 12, '--iterations overrides JARZYN_GMM_ITERATIONS')
  const html = readFileSync(join(dir, 'paper', 'report.html'), 'utf8')
  t.regex(html, /Configuration\.<\/b> preset 'paper': multinomial resampling when ESS\/N &lt; 0\.5 \(CV\^2 &gt; 1\)/)
  t.regex(readFileSync(join(dir, 'default', 'report.html'), 'utf8'), /preset 'jarzyn': systematic resampling when ESS\/N &lt; 0\.5/)
})

test('the built bin script is executable (npx runs it directly; tsc writes 0644)', (t) => {
  if (process.platform === 'win32') return t.pass()
  t.is(statSync(MAIN).mode & 0o111, 0o111, `mode ${(statSync(MAIN).mode & 0o777).toString(8)}`)
})

test('a negative number after a space (--step-size -0.1, --means -8,5) still gives one stderr line or is accepted', async (t) => {
  // node:util parseArgs refuses an option value starting with '-' ("argument is ambiguous") with a
  // three-line message; the paper's own --means (-10,6) must work in the usual `--means -10,6` form.
  const [step, means] = await Promise.all([jarzyn(['gmm', '--step-size', '-0.1']), jarzyn(['gmm', '--means', '-8,5', '--iterations', '1', '--dim', '2', '--data', '10', '--walkers', '10', '--quiet', '--json'])])
  t.is(step.code, 2)
  t.regex(step.stderr, /^jarzyn: [^\n]+\n$/, `stderr: ${JSON.stringify(step.stderr)}`)
  t.true(means.code === 0 || /^jarzyn: [^\n]+\n$/.test(means.stderr), `stderr: ${JSON.stringify(means.stderr)}`)
})

test('--live: the page address on stderr (even with --quiet), the server stopped when the run ends, stdout unchanged', async (t) => {
  const r = await jarzyn(['gmm', ...SMALL, '--iterations', '20', '--method', 'jarzynski', '--json', '--quiet', '--live'])
  t.is(r.code, 0, r.stderr)
  const m = /^live: http:\/\/127\.0\.0\.1:(\d+)\/\n$/.exec(r.stderr)
  t.truthy(m, `stderr: ${JSON.stringify(r.stderr)}`)
  t.is(r.stdout.trimEnd().split('\n').length, 1)
  t.is(JSON.parse(r.stdout).iterations, 20)
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: Number(m![1]) })
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', () => resolve(true))
  })
  t.true(refused, 'the live server stops with the run')
})

test('--help and -h exit 0 with the usage on stdout; no command prints the usage and exits 2', async (t) => {
  const [gmmHelp, h, top, none] = await Promise.all([jarzyn(['gmm', '--help']), jarzyn(['gmm', '-h']), jarzyn(['--help']), jarzyn([])])
  for (const r of [gmmHelp, h]) {
    t.is(r.code, 0)
    t.regex(r.stdout, /^Usage: jarzyn gmm \[options\]/)
    for (const flag of ['--method', '--dim', '--means', '--weights', '--resample', '--device', '--out', '--live', '--live-keep', '--json', '--quiet']) t.true(r.stdout.includes(flag), flag)
    t.is(r.stderr, '')
  }
  t.is(top.code, 0)
  t.regex(top.stdout, /^Usage: jarzyn <command>/)
  t.is(none.code, 2)
  t.regex(none.stdout, /^Usage: jarzyn <command>/)
})

test('--device cpu | cuda | auto: accepted; each JSON line says what ran; cuda without CUDA warns (JARZYN_CUDA_FALLBACK) and gives the CPU numbers', async (t) => {
  const args = ['gmm', '--dim', '3', '--data', '300', '--walkers', '300', '--iterations', '40', '--method', 'all', '--json', '--quiet', '--threads', '2']
  const [cpu, cuda, auto, table] = await Promise.all([
    jarzyn([...args, '--device', 'cpu']),
    jarzyn([...args, '--device', 'cuda']),
    jarzyn([...args, '--device', 'auto']),
    jarzyn(['gmm', ...SMALL, '--iterations', '5', '--method', 'pcd', '--quiet', '--device', 'auto']),
  ])
  for (const r of [cpu, cuda, auto, table]) t.is(r.code, 0, r.stderr)
  const parse = (out: string) => out.trimEnd().split('\n').map((l) => JSON.parse(l))
  const strip = (out: string) =>
    parse(out).map((x) => {
      const { seconds: _s, timings: _t, samplerShare: _p, device: _d, ...rest } = x
      return rest
    })
  t.deepEqual(parse(cpu.stdout).map((x) => x.device), ['cpu', 'cpu', 'cpu'])
  t.deepEqual(strip(auto.stdout), strip(cpu.stdout))
  t.is(cpu.stderr, '')
  const status = cudaStatus()
  if (!status.available) {
    t.deepEqual(parse(cuda.stdout).map((x) => x.device), ['cpu', 'cpu', 'cpu'])
    t.deepEqual(strip(cuda.stdout), strip(cpu.stdout), 'the fallback gives the CPU numbers')
    t.regex(cuda.stderr, /\[JARZYN_CUDA_FALLBACK\]/)
    t.true(cuda.stderr.includes(status.reason!), cuda.stderr)
    t.is(cuda.stderr.match(/JARZYN_CUDA_FALLBACK/g)!.length, 1, 'one warning for the three methods')
    t.is(auto.stderr, '', "'auto' falls back silently")
    t.deepEqual(parse(auto.stdout).map((x) => x.device), ['cpu', 'cpu', 'cpu'])
  }
  t.regex(table.stdout, /\nwalkers ran on: cpu \(--device auto\)\n$/)
})
