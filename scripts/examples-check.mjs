#!/usr/bin/env node
// Examples in CI: type-check examples/ (`tsc -p examples/tsconfig.json`), then run each example
// briefly with `node --import tsx`; any non-zero exit (or a run past its time limit) fails.
//
//   npm run test:examples      (after a build: the examples import 'jarzyn', i.e. dist/)
//
// Prints one PASS/FAIL line per check and exits non-zero when any fails.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

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

const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts')).sort()
const unlisted = files.filter((f) => !(f in RUNS))
if (unlisted.length > 0 || !existsSync(join(ROOT, 'dist', 'index.js'))) {
  failed++
  console.log(`FAIL setup: ${unlisted.length ? `examples without a run in scripts/examples-check.mjs: ${unlisted.join(', ')}` : 'dist/ is missing: run npm run build first'}`)
} else {
  // The README's training script is examples/readme-training.ts (after its two header comment lines).
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
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

rmSync(tmp, { recursive: true, force: true })
console.log(`\nexamples check took ${((performance.now() - t0) / 1000).toFixed(1)} s`)
console.log(`examples: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
