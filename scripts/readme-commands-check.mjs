#!/usr/bin/env node
// The newcomer's path, literally: clone this repository into a temporary folder and run the two
// set-up commands of README.md's "Set up" section there, exactly as the README prints them
// (extracted from README.md, run by `sh -c`), then check what they leave behind.
//
//   npm run test:readme
//
// The only thing added to the commands is the environment the README documents:
// JARZYN_GMM_ITERATIONS (a short run of the main job) and, for the test command,
// JARZYN_README_CHECK_NESTED=1, which makes the clone's own `npm test` skip this check (it would
// otherwise clone itself again, forever). The clone is made at a fixed path, so a second run meets
// what a returning user meets: npx's cache entry for that folder from the first run.
//
// Prints one PASS/FAIL line per check and exits non-zero when any fails.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { childEnv } from './lib/child-env.mjs'
import { setupCommands } from './lib/readme-blocks.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const ITERATIONS = process.env.JARZYN_README_ITERATIONS ?? '300'

if (process.env.JARZYN_README_CHECK_NESTED === '1') {
  console.log('readme: skipped (this is the clone made by the README check; it runs the check once, outside)')
  process.exit(0)
}

const t0 = performance.now()
let passed = 0
let failed = 0
function pass(name, detail = '') {
  passed++
  console.log(`PASS ${name}${detail ? `: ${detail}` : ''}`)
}
function fail(name, detail) {
  failed++
  console.log(`FAIL ${name}: ${detail}`)
}
function finish() {
  console.log(`\nREADME check took ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  console.log(`readme: ${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

const commands = setupCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'))
const main = commands.find((c) => /\bnpx jarzyn gmm\b/.test(c))
const test = commands.find((c) => /\bnpm test\b/.test(c))
if (commands.length !== 2 || !main || !test || main === test) {
  fail('README "Set up" section', `expected two sh blocks, the main job (npx jarzyn gmm ...) and the tests (npm test); found ${JSON.stringify(commands)}`)
  finish()
}
for (const c of [main, test]) {
  if (c.includes('\n')) fail('README "Set up" commands', `each is one line, got:\n${c}`)
}

const git = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' })
if (git.status === 0 && git.stdout.trim() !== '') {
  console.log('note: the working tree has uncommitted changes; the clone holds the last commit only')
}

const clone = join(tmpdir(), 'jarzyn-readme-check')
rmSync(clone, { recursive: true, force: true })
const c = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone], { encoding: 'utf8' })
if (c.status !== 0) {
  fail('git clone', `${c.stderr}`)
  finish()
}
pass('git clone', `${ROOT} -> ${clone}`)

/** Run one README command in the clone as printed, with `extra` environment; output streams through. */
function runCommand(name, command, extra, timeoutMin) {
  const start = performance.now()
  console.log(`\n$ ${command}    (in ${clone}; ${Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ')})`)
  const r = spawnSync('sh', ['-c', command], { cwd: clone, env: childEnv(extra), stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMin * 60_000 })
  const s = ((performance.now() - start) / 1000).toFixed(1)
  if (r.error || r.status !== 0) {
    fail(name, `${r.error ? r.error.message : `exit ${r.status ?? r.signal}`} after ${s} s`)
    return false
  }
  pass(name, `exit 0 in ${s} s`)
  return true
}

// 1. The main job.
if (runCommand(`main job: ${main}`, main, { JARZYN_GMM_ITERATIONS: ITERATIONS }, 20)) {
  const bin = join(clone, JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')).bin.jarzyn)
  if ((statSync(bin).mode & 0o111) === 0o111) pass('the built bin script is executable', bin)
  else fail('the built bin script is executable', `${bin} has mode ${(statSync(bin).mode & 0o777).toString(8)}`)
  const report = join(clone, 'report')
  const files = existsSync(report) ? readdirSync(report) : []
  const svgs = files.filter((f) => f.endsWith('.svg'))
  if (files.includes('report.html') && svgs.length >= 3) pass('report/ holds report.html and the plots', `${svgs.join(', ')}`)
  else fail('report/ holds report.html and the plots', `report/ has ${JSON.stringify(files)}`)
  try {
    const results = JSON.parse(readFileSync(join(report, 'results.json'), 'utf8'))
    const methods = results.results.map((r) => r.method)
    const ok = ['jarzynski', 'pcd', 'cd'].every((m) => methods.includes(m)) && results.results.every((r) => r.iterations === Number(ITERATIONS) && r.weights.every(Number.isFinite))
    if (ok) pass('report/results.json holds the three methods', results.results.map((r) => `${r.method} weights [${r.weights.map((w) => w.toFixed(3))}]`).join('; '))
    else fail('report/results.json holds the three methods', `methods ${methods}, iterations ${results.results.map((r) => r.iterations)}`)
    const html = readFileSync(join(report, 'report.html'), 'utf8')
    if (/Configuration\.<\/b> preset 'jarzyn': systematic resampling/.test(html)) pass('report.html states the configuration it ran')
    else fail('report.html states the configuration it ran', 'no "Configuration." line naming the preset and the resampling')
  } catch (e) {
    fail('report/results.json holds the three methods', e.message)
  }
}

// 2. The tests, in the clone (its own README check skips itself).
runCommand(`tests: ${test}`, test, { JARZYN_README_CHECK_NESTED: '1' }, 60)

if (failed === 0) rmSync(clone, { recursive: true, force: true })
else console.log(`the clone is kept for inspection: ${clone}`)
finish()
