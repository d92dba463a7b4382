/**
 * Fuzzing the public API: 10^5 random calls on Sampler, Trainer and GaussianMixtureEnergy (random
 * order, argument types and lengths, NaN and Infinity, detached, shared and aliased arrays, writes
 * through the views, use after dispose) in a child process. It must end without a crash, every
 * error must carry a precise code (never the catch-all ERR_JARZYN_NATIVE, never an uncoded
 * TypeError), and estimators must return numbers in range. The seed is fixed: a failure reproduces
 * with `node --import tsx __test__/fixtures/fuzz-api.ts 100000 <seed> <dir>` (FUZZ_TRACE=1 prints each call).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import test from 'ava'

import { tempDir } from './train-helpers'

const CALLS = 100_000

for (const seed of [20261206]) {
  test(`${CALLS} random API calls (seed ${seed}): no crash, every error coded, every estimate in range`, (t) => {
    const dir = tempDir(t, 'jarzyn-fuzz-')
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'fuzz-api.ts'), String(CALLS), String(seed), dir], {
      encoding: 'utf8',
      timeout: 240_000,
    })
    t.is(r.signal, null, `the fuzzing process died with ${r.signal}:\n${r.stderr.slice(-3000)}`)
    t.is(r.status, 0, `exit status ${r.status}:\n${r.stderr.slice(-3000)}`)
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { calls: number; counts: Record<string, number>; failures: string[] }
    t.log(`${summary.calls} calls: ${Object.entries(summary.counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`)
    t.is(summary.calls, CALLS)
    t.deepEqual(summary.failures, [])
    // The calls must reach the code they are meant to test, not only the argument checks.
    t.true(summary.counts.ok > CALLS / 4, 'too few calls succeeded')
  })
}
