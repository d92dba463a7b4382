/**
 * Backend choice: automatic (tensorflow, else wasm, else cpu), forced by option or by
 * JARZYN_TF_BACKEND, and a clear ERR_JARZYN_BACKEND when a forced backend cannot start.
 */
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'

import test from 'ava'

import { availableTfBackends, initTensorflow, mlpEnergy } from '../ts/index'

const ENV = 'JARZYN_TF_BACKEND'
const hasNode = availableTfBackends().includes('tensorflow')

/** Run `f` with the environment variable set (or unset) and restore it. */
async function withEnv<T>(value: string | undefined, f: () => Promise<T>): Promise<T> {
  const saved = process.env[ENV]
  if (value === undefined) delete process.env[ENV]
  else process.env[ENV] = value
  try {
    return await f()
  } finally {
    if (saved === undefined) delete process.env[ENV]
    else process.env[ENV] = saved
  }
}

test.serial('without a choice it starts the fastest backend that works', async (t) => {
  const { tf, backend } = await withEnv(undefined, () => initTensorflow())
  t.is(backend, hasNode ? 'tensorflow' : 'wasm')
  t.is(tf.getBackend(), backend)
  const e = mlpEnergy({ dim: 2, hidden: [3], seed: 1 })
  t.is(e.backend, `tfjs:${backend}`)
  e.dispose()
})

test.serial('the option forces a backend, and energies report it', async (t) => {
  for (const name of ['cpu', 'wasm'] as const) {
    const { tf, backend } = await withEnv('tensorflow', () => initTensorflow({ backend: name }))
    t.is(backend, name, 'the option wins over the environment variable')
    t.is(tf.getBackend(), name)
    const e = mlpEnergy({ dim: 2, hidden: [3], seed: 1 })
    t.is(e.backend, `tfjs:${name}`)
    e.dispose()
  }
})

test.serial('JARZYN_TF_BACKEND forces a backend', async (t) => {
  for (const name of ['cpu', 'wasm'] as const) {
    const { backend } = await withEnv(name, () => initTensorflow())
    t.is(backend, name)
  }
})

;(hasNode ? test.serial.skip : test.serial)('forcing tensorflow without a working tfjs-node is ERR_JARZYN_BACKEND', async (t) => {
  const e1 = await t.throwsAsync(initTensorflow({ backend: 'tensorflow' }), { code: 'ERR_JARZYN_BACKEND' })
  t.regex(e1!.message, /'tensorflow' is not available/)
  await t.throwsAsync(
    withEnv('tensorflow', () => initTensorflow()),
    { code: 'ERR_JARZYN_BACKEND' },
  )
})

test.serial('unknown backend names are invalid options', async (t) => {
  await t.throwsAsync(initTensorflow({ backend: 'webgl' as 'cpu' }), { code: 'ERR_JARZYN_INVALID_OPTION' })
  await t.throwsAsync(withEnv('gpu', () => initTensorflow()), { code: 'ERR_JARZYN_INVALID_OPTION', message: /JARZYN_TF_BACKEND/ })
  await t.throwsAsync(initTensorflow({ backed: 'cpu' } as object), { code: 'ERR_JARZYN_UNKNOWN_OPTION' })
})

;(hasNode ? test : test.skip)("starting 'tensorflow' keeps TensorFlow's info logs off stderr unless TF_CPP_MIN_LOG_LEVEL asks for them", (t) => {
  const code = `require(${JSON.stringify(resolve(__dirname, '../ts/index.ts'))}).initTensorflow().then(({ tf, backend }) => { tf.tidy(() => tf.conv2d(tf.ones([1, 8, 8, 1]), tf.ones([3, 3, 1, 2]), 1, 'same').dataSync()); console.log(backend) })`
  const run = (level: string | undefined) => {
    const env = { ...process.env }
    delete env.JARZYN_TF_BACKEND
    if (level === undefined) delete env.TF_CPP_MIN_LOG_LEVEL
    else env.TF_CPP_MIN_LOG_LEVEL = level
    return spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { env, encoding: 'utf8' })
  }
  const quiet = run(undefined)
  t.is(quiet.stdout.trim(), 'tensorflow')
  t.notRegex(quiet.stderr, /tensorflow\/core|oneDNN/)
  const loud = run('0')
  t.is(loud.stdout.trim(), 'tensorflow')
  t.regex(loud.stderr, /oneDNN/, 'the user asked for the logs')
})
