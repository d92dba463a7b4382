/**
 * Optimisers: SGD (with momentum) and Adam against hand-computed updates, per-group learning rates,
 * schedules as multipliers of the rate, option validation, and exact state round trips.
 */
import test from 'ava'

import { Optimizer, scheduleFactor, type OptimizerOptions, type Schedule } from '../ts/index'
import { throwsJarzyn } from './helpers'
import { assertSameBits } from './bits'

const close = (a: number, b: number, tol = 1e-15) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b))

test('SGD: params -= lr * grad, step by step (hand-computed)', (t) => {
  const o = new Optimizer({ type: 'sgd', lr: 0.1 }, ['w', 'w'])
  const p = Float64Array.from([1, -2])
  o.step(p, Float64Array.from([0.5, -1]))
  t.deepEqual(Array.from(p), [1 - 0.05, -2 + 0.1])
  o.step(p, Float64Array.from([2, 0]))
  t.true(close(p[0], 0.95 - 0.2) && close(p[1], -1.9))
  t.is(o.iteration, 2)
})

test('SGD with momentum: m = mu m + g, params -= lr m (hand-computed)', (t) => {
  const o = new Optimizer({ type: 'sgd', lr: 0.5, momentum: 0.9 }, ['w'])
  const p = Float64Array.from([0])
  o.step(p, Float64Array.from([1])) // m = 1 -> p = -0.5
  t.true(close(p[0], -0.5))
  o.step(p, Float64Array.from([1])) // m = 1.9 -> p = -0.5 - 0.95 = -1.45
  t.true(close(p[0], -1.45))
  o.step(p, Float64Array.from([-2])) // m = 1.71 - 2 = -0.29 -> p = -1.45 + 0.145 = -1.305
  t.true(close(p[0], -1.305), `${p[0]}`)
})

test('Adam: the first step is lr g / (|g| + eps); later steps follow the bias-corrected moments', (t) => {
  const lr = 0.01
  const o = new Optimizer({ type: 'adam', lr }, ['a', 'a', 'a'])
  const p = Float64Array.from([1, 1, 1])
  o.step(p, Float64Array.from([3, -1e-3, 0]))
  // m_hat = g, v_hat = g^2 after one step: the update is lr sign(g) up to eps; g = 0 does not move.
  t.true(close(p[0], 1 - (lr * 3) / (3 + 1e-8)))
  t.true(close(p[1], 1 + (lr * 1e-3) / (1e-3 + 1e-8)))
  t.is(p[2], 1)
  // Two more steps against an independent loop with betas (0, 0.999) (the paper's MNIST setting)
  // and eps 1e-6.
  const o2 = new Optimizer({ type: 'adam', lr, betas: [0.5, 0.9], eps: 1e-6 }, ['a'])
  const q = Float64Array.from([0])
  const grads = [1, -3, 0.5, 2]
  let m = 0
  let v = 0
  let want = 0
  grads.forEach((g, k) => {
    o2.step(q, Float64Array.from([g]))
    m = 0.5 * m + 0.5 * g
    v = 0.9 * v + 0.1 * g * g
    want -= (lr * (m / (1 - 0.5 ** (k + 1)))) / (Math.sqrt(v / (1 - 0.9 ** (k + 1))) + 1e-6)
    t.true(close(q[0], want, 1e-14), `step ${k}: ${q[0]} vs ${want}`)
  })
  // betas[0] = 0: no momentum, m_hat = g.
  const o3 = new Optimizer({ type: 'adam', lr: 1, betas: [0, 0.999] }, ['a'])
  const r = Float64Array.from([0])
  o3.step(r, Float64Array.from([2]))
  o3.step(r, Float64Array.from([-4]))
  const v2 = 0.999 * 0.001 * 4 + 0.001 * 16
  t.true(close(r[0], -2 / (2 + 1e-8) + 4 / (Math.sqrt(v2 / (1 - 0.999 ** 2)) + 1e-8), 1e-14), `${r[0]}`)
})

test('per-group learning rates: groups override the base rate for their parameters only', (t) => {
  const o = new Optimizer({ type: 'sgd', lr: 0.1, groups: { logWeights: 0.5 } }, ['means', 'means', 'logWeights', 'other'])
  const p = new Float64Array(4)
  o.step(p, Float64Array.from([1, 1, 1, 1]))
  t.deepEqual(Array.from(p), [-0.1, -0.1, -0.5, -0.1])
  // Adam: each entry's step is its own group's rate (first step = lr sign g).
  const a = new Optimizer({ type: 'adam', lr: 0.1, groups: { means: 0.01, logWeights: 0.03 } }, ['means', 'logWeights'])
  const q = new Float64Array(2)
  a.step(q, Float64Array.from([5, -5]))
  t.true(close(q[0], (-0.01 * 5) / (5 + 1e-8)) && close(q[1], (0.03 * 5) / (5 + 1e-8)))
  // A group rate of 0 freezes that group.
  const z = new Optimizer({ type: 'sgd', lr: 0.1, groups: { frozen: 0 } }, ['frozen', 'w'])
  const s = Float64Array.from([3, 3])
  z.step(s, Float64Array.from([1, 1]))
  t.deepEqual(Array.from(s), [3, 2.9])
})

test('schedules: step, exponential, cosine and warmup factors as documented, applied to every group', (t) => {
  const f = (s: Schedule, ks: number[]) => ks.map((k) => scheduleFactor(s, k))
  t.deepEqual(f({ type: 'constant' }, [0, 5, 1000]), [1, 1, 1])
  t.is(scheduleFactor(undefined, 7), 1)
  t.deepEqual(f({ type: 'step', every: 3, factor: 0.5 }, [0, 1, 2, 3, 5, 6, 9]), [1, 1, 1, 0.5, 0.5, 0.25, 0.125])
  f({ type: 'exponential', rate: 0.9 }, [0, 1, 2, 10]).forEach((v, i) => t.true(close(v, 0.9 ** [0, 1, 2, 10][i])))
  const cos = f({ type: 'cosine', iterations: 10, floor: 0.1 }, [0, 5, 10, 20])
  t.true(close(cos[0], 1) && close(cos[1], 0.1 + 0.9 * 0.5) && close(cos[2], 0.1) && close(cos[3], 0.1), `${cos}`)
  t.true(close(scheduleFactor({ type: 'cosine', iterations: 4 }, 1), 0.5 * (1 + Math.cos(Math.PI / 4))))
  t.true(scheduleFactor({ type: 'cosine', iterations: 4 }, 4) < 1e-16)
  t.deepEqual(f({ type: 'warmup', iterations: 4 }, [0, 1, 2, 3, 4, 100]), [0.25, 0.5, 0.75, 1, 1, 1])

  // In the optimiser: step k (0-based) uses factor(k) times each group's rate.
  for (const schedule of [
    { type: 'step', every: 2, factor: 0.1 },
    { type: 'exponential', rate: 0.5 },
    { type: 'cosine', iterations: 5, floor: 0.2 },
    { type: 'warmup', iterations: 3 },
  ] as Schedule[]) {
    const o = new Optimizer({ type: 'sgd', lr: 0.2, groups: { b: 2 }, schedule }, ['a', 'b'])
    const p = new Float64Array(2)
    for (let k = 0; k < 6; k++) {
      const before = p.slice()
      o.step(p, Float64Array.from([1, 1]))
      const fk = scheduleFactor(schedule, k)
      t.true(close(before[0] - p[0], 0.2 * fk, 1e-12) && close(before[1] - p[1], 2 * fk, 1e-12), `${schedule.type}, step ${k}`)
    }
  }
})

test('invalid optimiser options are rejected with class and code', (t) => {
  const groups = ['means', 'logWeights']
  const bad = (label: string, o: unknown, Class: typeof Error, code = 'ERR_JARZYN_INVALID_OPTION') =>
    throwsJarzyn(t, () => new Optimizer(o as OptimizerOptions, groups), Class, code, label)
  const R = RangeError
  const T = TypeError
  let e = bad('unknown group', { type: 'sgd', lr: 0.1, groups: { mean: 0.1 } }, R)
  t.regex(String(e?.message), /mean/)
  t.regex(String(e?.message), /means, logWeights/)
  bad('negative lr', { type: 'sgd', lr: -0.1 }, R)
  bad('NaN lr', { type: 'sgd', lr: NaN }, R)
  bad('lr string', { type: 'sgd', lr: '0.1' }, T)
  bad('negative group lr', { type: 'sgd', lr: 0.1, groups: { means: -1 } }, R)
  bad('type', { type: 'rmsprop', lr: 0.1 }, R)
  bad('unknown key', { type: 'sgd', lr: 0.1, weightDecay: 0.1 }, T, 'ERR_JARZYN_UNKNOWN_OPTION')
  bad('momentum 1.5', { type: 'sgd', lr: 0.1, momentum: 1.5 }, R)
  bad('momentum -0.1', { type: 'sgd', lr: 0.1, momentum: -0.1 }, R)
  bad('betas of length 1', { type: 'adam', lr: 0.1, betas: [0.9] }, T)
  bad('betas not an array', { type: 'adam', lr: 0.1, betas: 0.9 }, T)
  bad('beta1 > 1', { type: 'adam', lr: 0.1, betas: [1.2, 0.999] }, R)
  bad('beta2 < 0', { type: 'adam', lr: 0.1, betas: [0.9, -0.5] }, R)
  bad('beta NaN', { type: 'adam', lr: 0.1, betas: [NaN, 0.999] }, R)
  bad('eps 0', { type: 'adam', lr: 0.1, eps: 0 }, R)
  bad('unknown schedule', { type: 'sgd', lr: 0.1, schedule: { type: 'polynomial' } }, R)
  bad('step schedule every 0', { type: 'sgd', lr: 0.1, schedule: { type: 'step', every: 0, factor: 0.5 } }, R)
  bad('step schedule without factor', { type: 'sgd', lr: 0.1, schedule: { type: 'step', every: 2 } }, T)
  bad('exponential rate 0', { type: 'sgd', lr: 0.1, schedule: { type: 'exponential', rate: 0 } }, R)
  bad('cosine floor 2', { type: 'sgd', lr: 0.1, schedule: { type: 'cosine', iterations: 10, floor: 2 } }, R)
  bad('warmup iterations 0', { type: 'sgd', lr: 0.1, schedule: { type: 'warmup', iterations: 0 } }, R)
  // Valid edge cases are accepted.
  t.notThrows(() => new Optimizer({ type: 'sgd', lr: 0, momentum: 0 }, groups))
  t.notThrows(() => new Optimizer({ type: 'adam', lr: 1e-4, betas: [0, 0.999] }, groups))
})

test('state()/restore(): a restored optimiser continues bit-identically; mismatched state is refused', (t) => {
  for (const options of [
    { type: 'adam', lr: 0.05, groups: { b: 0.2 }, schedule: { type: 'exponential', rate: 0.95 } },
    { type: 'sgd', lr: 0.05, momentum: 0.8, schedule: { type: 'step', every: 2, factor: 0.5 } },
  ] as OptimizerOptions[]) {
    const groupOf = ['a', 'a', 'b']
    const grads = Array.from({ length: 8 }, (_, k) => Float64Array.from([Math.sin(k), Math.cos(3 * k), 0.1 * k - 0.3]))
    const a = new Optimizer(options, groupOf)
    const pa = Float64Array.from([0.3, -0.2, 1])
    for (const g of grads) a.step(pa, g)

    const b = new Optimizer(options, groupOf)
    const pb = Float64Array.from([0.3, -0.2, 1])
    for (const g of grads.slice(0, 3)) b.step(pb, g)
    const st = JSON.parse(JSON.stringify(b.state()))
    t.is(st.t, 3)
    const c = new Optimizer(options, groupOf)
    c.restore(st)
    t.is(c.iteration, 3)
    for (const g of grads.slice(3)) c.step(pb, g)
    assertSameBits(t, pa, pb, `${options.type}: ${Array.from(pa)} vs ${Array.from(pb)}`)
    t.deepEqual(c.state(), a.state())
    // state() is a copy.
    const s2 = c.state()
    s2.m[0] = 123
    t.not(c.state().m[0], 123)
  }
  const o = new Optimizer({ type: 'adam', lr: 0.1 }, ['a', 'a'])
  const bad = (label: string, s: unknown) => throwsJarzyn(t, () => o.restore(s as never), RangeError, 'ERR_JARZYN_BAD_CHECKPOINT', label)
  bad('m too short', { t: 1, m: [0], v: [0, 0] })
  bad('v too long', { t: 1, m: [0, 0], v: [0, 0, 0] })
  bad('t negative', { t: -1, m: [0, 0], v: [0, 0] })
  bad('t fractional', { t: 1.5, m: [0, 0], v: [0, 0] })
})

test('linear schedule: 1 down to the floor over the iterations, then the floor', (t) => {
  t.is(scheduleFactor({ type: 'linear', iterations: 10 }, 0), 1)
  t.is(scheduleFactor({ type: 'linear', iterations: 10 }, 5), 0.5)
  t.is(scheduleFactor({ type: 'linear', iterations: 10 }, 10), 0)
  t.is(scheduleFactor({ type: 'linear', iterations: 10 }, 99), 0)
  t.is(scheduleFactor({ type: 'linear', iterations: 10, floor: 0.2 }, 5), 0.2 + 0.8 * 0.5)
  t.throws(() => new Optimizer({ type: 'sgd', lr: 1, schedule: { type: 'linear', iterations: 0 } }, ['a']), { code: 'ERR_JARZYN_INVALID_OPTION' })
})

test('clip: a gradient longer than clip is scaled to that norm before the step; shorter ones untouched', (t) => {
  const o = new Optimizer({ type: 'sgd', lr: 1, clip: 1 }, ['a', 'a'])
  const p = Float64Array.of(0, 0)
  o.step(p, Float64Array.of(3, 4))
  t.deepEqual(Array.from(p), [-0.6, -0.8])
  o.step(p, Float64Array.of(0.3, 0))
  t.true(Math.abs(p[0] + 0.9) < 1e-15 && p[1] === -0.8)
  const g = Float64Array.of(3, 4)
  new Optimizer({ type: 'adam', lr: 1, clip: 1 }, ['a', 'a']).step(Float64Array.of(0, 0), g)
  t.deepEqual(Array.from(g), [3, 4], 'the caller\'s gradient is not modified')
  for (const clip of [0, -1, NaN, '1']) t.throws(() => new Optimizer({ type: 'sgd', lr: 1, clip: clip as number }, ['a']), { code: 'ERR_JARZYN_INVALID_OPTION' })
})
