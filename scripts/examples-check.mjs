#!/usr/bin/env node
// Examples in CI: type-check examples/ (`tsc -p examples/tsconfig.json`), then run each example
// briefly with `node --import tsx`; any non-zero exit (or a run past its time limit) fails.
//
//   npm run test:examples      (after a build: the examples import 'jarzyn', i.e. dist/)
//
// Prints one PASS/FAIL line per check and exits non-zero when any fails.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { readmeBlocks } from './lib/readme-blocks.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(ROOT, 'package.json'))
const t0 = performance.now()
const tmp = mkdtempSync(join(tmpdir(), 'jarzyn-examples-'))
let passed = 0
let failed = 0

/** Each example with the arguments that keep it short (they take iteration counts as argv). */
const RUNS = {
  'gmm-experiment.ts': ['300'],
  'tf-mlp-2d.ts': ['30', join(tmp, 'tf-mlp-2d.svg')],
  'resume-checkpoint.ts': [],
  'sampler-basics.ts': [],
  'readme-training.ts': ['200'],
}

function check(name, args, { timeout = 180_000, after } = {}) {
  const start = performance.now()
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout,
    env: { ...process.env, CI: 'true' },
  })
  let problem = r.error ? r.error.message : r.status !== 0 ? `exit ${r.status ?? r.signal}` : null
  if (!problem && after) problem = after()
  const s = ((performance.now() - start) / 1000).toFixed(1)
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')
  if (problem) {
    failed++
    console.log(`FAIL ${name} (${s} s): ${problem}`)
    console.log(tail.slice(-30).join('\n').replace(/^/gm, '    '))
  } else {
    passed++
    console.log(`PASS ${name} (${s} s)${tail.at(-1) ? `: ${tail.findLast((l) => l.trim() !== '').trim().slice(0, 120)}` : ''}`)
  }
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts')).sort()
const unlisted = files.filter((f) => !(f in RUNS))
if (unlisted.length > 0 || !existsSync(join(ROOT, 'dist', 'index.js'))) {
  failed++
  console.log(`FAIL setup: ${unlisted.length ? `examples without a run in scripts/examples-check.mjs: ${unlisted.join(', ')}` : 'dist/ is missing: run npm run build first'}`)
} else {
  // The README's training script is examples/readme-training.ts (after its two header comment lines).
  const block = /## Training in 20 lines[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  const source = readFileSync(join(ROOT, 'examples', 'readme-training.ts'), 'utf8').split('\n').slice(2).join('\n')
  if (block !== undefined && block.trim() === source.trim()) {
    passed++
    console.log('PASS README "Training in 20 lines" is examples/readme-training.ts')
  } else {
    failed++
    console.log(`FAIL README "Training in 20 lines" ${block === undefined ? 'not found' : 'differs from examples/readme-training.ts'}`)
  }
  check('tsc -p examples/tsconfig.json', [require.resolve('typescript/bin/tsc'), '-p', join('examples', 'tsconfig.json')])
  for (const f of files) {
    const args = RUNS[f]
    const svg = args.find((a) => a.endsWith('.svg'))
    check(`node --import tsx examples/${[f, ...args.map((a) => (a.startsWith(tmp) ? '<tmp>/' + a.slice(tmp.length + 1) : a))].join(' ')}`, ['--import', 'tsx', join('examples', f), ...args], {
      after: svg ? () => (existsSync(svg) && statSync(svg).size > 1000 ? null : `${svg} was not written`) : undefined,
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Every code block of README.md: run here, or named with the check that runs it. A block that no
// rule claims fails, so a new README example cannot go untested.

const blocks = readmeBlocks(readme)
const trainingBlock = blocks.find((b) => b.section === 'Training in 20 lines' && b.lang === 'ts')
const blockDir = join(ROOT, 'examples', '.readme-blocks')

/** Run a TypeScript block verbatim as an ES module inside the package (so that 'jarzyn' resolves to this build). */
function runTsBlock(b, code) {
  mkdirSync(blockDir, { recursive: true })
  const file = join(blockDir, `readme-line-${b.line}.mts`)
  writeFileSync(file, code + '\n')
  check(`README block at line ${b.line} (${b.section}), run verbatim`, ['--import', 'tsx', file])
}

/**
 * Run a README command as printed, in the repository (for the set-up block, the part after
 * `npm install && `, already done here), shortened only through the environment variable the README
 * documents; then check the report folder it writes holds `methods`.
 */
function runCommandBlock(b, { env, report: folder, methods }) {
  const command = b.code.trim().replace(/^npm install && /, '')
  const report = join(ROOT, folder)
  // The command writes ./<folder>: keep a user's own aside and put it back afterwards.
  const kept = existsSync(report) ? `${report}.kept-${process.pid}` : null
  if (kept) renameSync(report, kept)
  const envText = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')
  try {
    const start = performance.now()
    const r = spawnSync('sh', ['-c', command], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true', ...env }, timeout: 300_000 })
    const s = ((performance.now() - start) / 1000).toFixed(1)
    const results = existsSync(join(report, 'results.json')) ? JSON.parse(readFileSync(join(report, 'results.json'), 'utf8')).results.map((x) => x.method) : []
    if (r.status === 0 && methods.every((m) => results.includes(m)) && existsSync(join(report, 'report.html'))) {
      passed++
      console.log(`PASS README block at line ${b.line}: ${command} (${envText}, ${s} s): ${folder}/ with ${results.join(', ')}`)
    } else {
      failed++
      console.log(`FAIL README block at line ${b.line}: ${command}: exit ${r.status ?? r.signal}, results ${JSON.stringify(results)}`)
      console.log(`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n').replace(/^/gm, '    '))
    }
  } finally {
    rmSync(report, { recursive: true, force: true })
    if (kept) renameSync(kept, report)
  }
}

/** What is done with each README block: `run(block)`, or `covered` naming the check that runs it. */
const RULES = [
  { section: /^Install$/, code: /^npm install jarzyn$/, covered: 'test:pack (installs the packed tarballs with npm install; 0.1.0 is not on the registry yet)' },
  { section: /^Set up/, code: /npx jarzyn gmm/, run: (b) => runCommandBlock(b, { env: { JARZYN_GMM_ITERATIONS: '200' }, report: 'report', methods: ['jarzynski', 'pcd', 'cd'] }) },
  {
    section: /^The image experiment/,
    code: /^npx jarzyn mnist /,
    run: (b) => runCommandBlock(b, { env: { JARZYN_MNIST_ITERATIONS: '20' }, report: 'mnist-report', methods: ['jarzynski', 'pcd'] }),
  },
  { section: /^Set up/, code: /^npm install && npm test$/, covered: 'test:readme (runs it in a fresh clone)' },
  { section: /^Training in 20 lines$/, covered: 'the examples/readme-training.ts run above (checked identical)' },
  {
    section: /^Profiling$/,
    lang: 'ts',
    // The README says this continues the training script: run it after that script's set-up.
    run: (b) => runTsBlock(b, `${trainingBlock.code.slice(0, trainingBlock.code.indexOf('async function main'))}\n${b.code}\ntrainer.dispose()`),
  },
  { lang: 'ts', run: (b) => runTsBlock(b, b.code) },
  { lang: 'text', covered: 'nothing: program output, not code' },
  { lang: 'bibtex', covered: 'nothing: a citation' },
  { section: /^Build from source$/, covered: 'test:readme (git clone and npm install in a fresh folder)' },
  { section: /^API docs$/, covered: 'npm test (its docs step)' },
]

for (const b of blocks) {
  const rule = RULES.find((r) => (!r.section || r.section.test(b.section)) && (!r.code || r.code.test(b.code.trim())) && (!r.lang || r.lang === b.lang))
  if (!rule) {
    failed++
    console.log(`FAIL README block at line ${b.line} (${b.section}, ${b.lang || 'no language'}): nothing runs it; add a rule to scripts/examples-check.mjs`)
  } else if (rule.run) {
    rule.run(b)
  } else {
    console.log(`     README block at line ${b.line} (${b.section}): run by ${rule.covered}`)
  }
}
rmSync(blockDir, { recursive: true, force: true })

rmSync(tmp, { recursive: true, force: true })
console.log(`\nexamples check took ${((performance.now() - t0) / 1000).toFixed(1)} s`)
console.log(`examples: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
