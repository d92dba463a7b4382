/**
 * The wasm fixes against the cpu backend's own kernels and gradients: the Conv2D gradient from
 * forward convolutions (input gradient by sub-pixel phases, filter gradient as a dilated
 * convolution) and the wasm Conv2DBackpropFilter kernel, for strides 1, 2 and (2, 1); 'same',
 * 'valid' and asymmetric explicit padding; odd sizes and a non-square kernel. Then the
 * transpose-free BatchMatMul gradient (all transpose flags, batched and broadcast). Both sides are
 * float32 sums of the same products in different orders: they agree to a few ulps of the largest
 * magnitude (about 5e-7 seen); the bound used is 1e-5 relative to it.
 */
import test from 'ava'
import type * as TF from '@tensorflow/tfjs'

import { availableTfBackends, initTensorflow, type TfBackendName } from '../ts/index'
import { conv2dFilterGrad } from '../ts/tf/conv2d-filter-grad'
import { conv2dInputGrad } from '../ts/tf/conv2d-input-grad'
import { gridArray } from './tf-helpers'

const REL = 1e-5

type Grads = Float32Array[]

/** Run `f` on a backend and read its outputs. */
async function on(backend: TfBackendName, f: (tf: typeof TF) => TF.Tensor[]): Promise<Grads> {
  const { tf } = await initTensorflow({ backend })
  return tf.tidy(() => f(tf).map((g) => (g.dataSync() as Float32Array).slice()))
}

function relErr(a: Float32Array, b: Float32Array): number {
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(a[i]))
  }
  return diff / scale
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]]
const PADS: Pad[] = ['same', 'valid', [[0, 0], [1, 2], [0, 3], [0, 0]]]
const X_SHAPE: [number, number, number, number] = [3, 9, 8, 2]
const W_SHAPE: [number, number, number, number] = [5, 3, 2, 4]

for (const stride of [1, 2, [2, 1]] as (number | [number, number])[]) {
  for (const pad of PADS) {
    test.serial(`Conv2D gradients on wasm match cpu: stride ${JSON.stringify(stride)}, pad ${JSON.stringify(pad)}`, async (t) => {
      const xv = gridArray(3 * 9 * 8 * 2, 1)
      const wv = gridArray(5 * 3 * 2 * 4, 2)
      const grads = (tf: typeof TF) => {
        const x = tf.tensor4d(xv, X_SHAPE)
        const w = tf.tensor4d(wv, W_SHAPE)
        // A nonlinear loss so that dy is not constant.
        return tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.square(tf.conv2d(a as TF.Tensor4D, b as TF.Tensor4D, stride, pad))))([x, w])
      }
      const cpu = await on('cpu', grads)
      const wasm = await on('wasm', grads)
      t.true(relErr(cpu[0], wasm[0]) < REL, `dx: ${relErr(cpu[0], wasm[0])}`)
      t.true(relErr(cpu[1], wasm[1]) < REL, `dW: ${relErr(cpu[1], wasm[1])}`)

      // The kernels and the formulas on their own, against the cpu kernels.
      const kernels = (tf: typeof TF, formulas: boolean) => {
        const x = tf.tensor4d(xv, X_SHAPE)
        const w = tf.tensor4d(wv, W_SHAPE)
        const dy = tf.square(tf.conv2d(x, w, stride, pad))
        const attrs = { strides: stride, pad, dataFormat: 'NHWC' } as unknown as TF.NamedAttrMap
        const run = (name: string, inputs: TF.NamedTensorMap, extra: object) =>
          tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as TF.NamedAttrMap) as TF.Tensor
        const dW = run('Conv2DBackpropFilter', { x, dy }, { filterShape: W_SHAPE })
        if (!formulas) return [dW]
        const dx = run('Conv2DBackpropInput', { dy, filter: w }, { inputShape: X_SHAPE })
        return [dW, conv2dFilterGrad(tf, x, dy, W_SHAPE, { strides: stride, pad }), dx, conv2dInputGrad(tf, dy, w, X_SHAPE, { strides: stride, pad })]
      }
      const ref = await on('cpu', (tf) => kernels(tf, true))
      const wasmKernel = await on('wasm', (tf) => kernels(tf, false))
      t.true(relErr(ref[0], wasmKernel[0]) < REL, `wasm Conv2DBackpropFilter kernel: ${relErr(ref[0], wasmKernel[0])}`)
      t.true(relErr(ref[0], ref[1]) < REL, `filter formula on cpu: ${relErr(ref[0], ref[1])}`)
      t.true(relErr(ref[2], ref[3]) < REL, `input formula on cpu: ${relErr(ref[2], ref[3])}`)
    })
  }
}

test.serial('Conv2DBackpropFilter is registered once for wasm and left alone for cpu', async (t) => {
  const { tf } = await initTensorflow({ backend: 'wasm' })
  const k = tf.getKernel('Conv2DBackpropFilter', 'wasm')
  t.truthy(k)
  await initTensorflow({ backend: 'wasm' })
  t.is(tf.getKernel('Conv2DBackpropFilter', 'wasm'), k)
  t.not(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc, k?.kernelFunc)
})

const MATMUL_CASES: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
  { a: [7, 5], b: [5, 6], ta: false, tb: false },
  { a: [7, 5], b: [6, 5], ta: false, tb: true },
  { a: [5, 7], b: [5, 6], ta: true, tb: false },
  { a: [5, 7], b: [6, 5], ta: true, tb: true },
  { a: [3, 7, 5], b: [3, 5, 6], ta: false, tb: false },
  { a: [3, 5, 7], b: [3, 6, 5], ta: true, tb: true },
]

for (const c of MATMUL_CASES) {
  test.serial(`BatchMatMul gradient on wasm matches cpu: ${JSON.stringify(c)}`, async (t) => {
    const av = gridArray(c.a.reduce((x, y) => x * y), 3)
    const bv = gridArray(c.b.reduce((x, y) => x * y), 4)
    const grads = (tf: typeof TF) =>
      tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.sin(tf.matMul(a, b, c.ta, c.tb))))([tf.tensor(av, c.a), tf.tensor(bv, c.b)])
    const cpu = await on('cpu', grads)
    const wasm = await on('wasm', grads)
    t.true(relErr(cpu[0], wasm[0]) < REL && relErr(cpu[1], wasm[1]) < REL, `${relErr(cpu[0], wasm[0])} ${relErr(cpu[1], wasm[1])}`)
  })
}

test.serial('BatchMatMul gradient on wasm sums over broadcast batch axes', async (t) => {
  const av = gridArray(3 * 4 * 5, 5)
  const bv = gridArray(5 * 2, 6)
  const wasm = await on('wasm', (tf) =>
    tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.sin(tf.matMul(a, b))))([tf.tensor3d(av, [3, 4, 5]), tf.tensor3d(bv, [1, 5, 2])]),
  )
  // Reference: the broadcast spelled out with tile, whose gradient sums the copies.
  const cpu = await on('cpu', (tf) =>
    tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.sin(tf.matMul(a, tf.tile(b, [3, 1, 1])))))([tf.tensor3d(av, [3, 4, 5]), tf.tensor3d(bv, [1, 5, 2])]),
  )
  t.true(relErr(cpu[0], wasm[0]) < REL && relErr(cpu[1], wasm[1]) < REL)
})

test.serial('on wasm the matMul backward pass runs only flag-free matrix products', async (t) => {
  const { tf } = await initTensorflow({ backend: 'wasm' })
  const original = tf.getKernel('BatchMatMul', 'wasm')!
  const flags: boolean[] = []
  tf.unregisterKernel('BatchMatMul', 'wasm')
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const a = args.attrs as unknown as TF.BatchMatMulAttrs
      flags.push(a.transposeA || a.transposeB)
      return original.kernelFunc(args)
    },
  })
  try {
    tf.tidy(() => tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.matMul(a, b)))([tf.ones([4, 3]), tf.ones([3, 2])]))
  } finally {
    tf.unregisterKernel('BatchMatMul', 'wasm')
    tf.registerKernel(original)
  }
  t.deepEqual(flags, [false, false, false], 'forward, dA and dB')
})

// The fixes are wasm's alone: with them registered, tfjs-node keeps its own backward kernels.
;(availableTfBackends().includes('tensorflow') ? test.serial : test.serial.skip)(
  "after the wasm fixes, 'tensorflow' runs its own Conv2D and BatchMatMul gradients, which match cpu",
  async (t) => {
    await initTensorflow({ backend: 'wasm' })
    const { tf } = await initTensorflow({ backend: 'tensorflow' })
    t.not(tf.getKernel('Conv2DBackpropFilter', 'tensorflow')?.kernelFunc, tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc)
    const xv = gridArray(3 * 9 * 8 * 2, 1)
    const wv = gridArray(5 * 3 * 2 * 4, 2)
    const av = gridArray(7 * 5, 3)
    const bv = gridArray(6 * 5, 4)
    const grads = (tf: typeof TF, stride: number, pad: 'same' | 'valid') => [
      ...tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.square(tf.conv2d(a as TF.Tensor4D, b as TF.Tensor4D, stride, pad))))([
        tf.tensor4d(xv, X_SHAPE),
        tf.tensor4d(wv, W_SHAPE),
      ]),
      ...tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.sin(tf.matMul(a, b, false, true))))([tf.tensor2d(av, [7, 5]), tf.tensor2d(bv, [6, 5])]),
    ]
    // Count the backward kernels tfjs-node runs (the wasm fixes would run forward convolutions only).
    const ran: string[] = []
    const spied = ['Conv2DBackpropInput', 'Conv2DBackpropFilter'].map((name) => {
      const k = tf.getKernel(name, 'tensorflow')!
      tf.unregisterKernel(name, 'tensorflow')
      tf.registerKernel({
        ...k,
        kernelFunc: (args) => {
          ran.push(name)
          return k.kernelFunc(args)
        },
      })
      return k
    })
    try {
      for (const stride of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          const ref = await on('cpu', (tf) => grads(tf, stride, pad))
          const got = await on('tensorflow', (tf) => grads(tf, stride, pad))
          ref.forEach((r, i) => t.true(relErr(r, got[i]) < REL, `stride ${stride} ${pad}, gradient ${i}: ${relErr(r, got[i])}`))
        }
      }
    } finally {
      for (const k of spied) {
        tf.unregisterKernel(k.kernelName, 'tensorflow')
        tf.registerKernel(k)
      }
    }
    t.deepEqual([...new Set(ran)].sort(), ['Conv2DBackpropFilter', 'Conv2DBackpropInput'])
  },
)
