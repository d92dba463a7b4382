/**
 * Resident memory stays flat (within 10 % of the reading after a warm-up) over 10^5 sampler steps
 * and over 2000 TensorFlow.js training steps, and no tensor outlives its step. Measured in a child
 * process started with --expose-gc (every reading follows a full collection), whose figures are
 * printed here; `npm run bench` prints the same measurements.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import test from 'ava'

import { RSS_RELATIVE_LIMIT, type RssResult, type TfRssResult } from '../bench/memory'

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`
const line = (what: string, r: RssResult) =>
  `${what}: ${r.steps} steps, RSS ${mb(r.start)} -> ${mb(r.middle)} -> ${mb(r.end)} (${(100 * r.relativeGrowth).toFixed(2)} %, limit ${100 * RSS_RELATIVE_LIMIT} %) in ${r.seconds.toFixed(1)} s`

test('resident memory is flat over 10^5 sampler steps and 2000 TF.js training steps; no tensor leaks', (t) => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, 'fixtures', 'memory-run.ts')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 240_000,
  })
  const { sampler, tf } = JSON.parse(out.trim().split('\n').pop()!) as { sampler: RssResult; tf: TfRssResult }
  t.log(line(`sampler move()+observe(), N = ${sampler.walkers}, d = ${sampler.dim}`, sampler))
  t.log(line(`Jarzynski training, MLP ${tf.dim}-32-32-1 on tfjs ${tf.backend}, N = ${tf.walkers}`, tf) + `, live tensors ${tf.tensorsStart} -> ${tf.tensorsEnd}`)
  t.true(sampler.gcBeforeReadings && tf.gcBeforeReadings, 'readings must follow a full collection')
  t.true(sampler.relativeGrowth <= RSS_RELATIVE_LIMIT, `sampler RSS grew ${(100 * sampler.relativeGrowth).toFixed(2)} %`)
  t.true(tf.relativeGrowth <= RSS_RELATIVE_LIMIT, `TF.js training RSS grew ${(100 * tf.relativeGrowth).toFixed(2)} %`)
  t.is(tf.tensorsEnd, tf.tensorsStart, 'tensors leaked over the training steps')
})
