/**
 * The starting model of the CPU-sized image experiment: a mixture of one Gaussian per digit (each
 * fitted to that digit's training images, full covariance with shrinkage) with EQUAL weights and
 * learnable log-weight offsets. Under the CNN energy with a zero output layer it is rho_theta0
 * exactly, so the walkers start as exact samples (drawn here) and log Z_theta0 is known. It has the
 * data's modes with the wrong masses (1/3 each against 4:2:1): the image counterpart of the
 * paper's Gaussian-mixture experiment, which starts with equal weights too.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

import { fillNormals } from '../../normals'
import { loadTf } from '../../tf/backend'
import type { CnnBase } from '../../tf/cnn'
import type { DigitImages } from './data'

/** One Gaussian per digit, from the data. */
export interface DigitGaussians {
  /** The digits, one component each. */
  digits: number[]
  /** Dimension of the images (side^2). */
  dim: number
  /** Component means, K x dim. */
  means: Float64Array[]
  /** Lower-triangular Cholesky factors L (Sigma + eps I = L L^T), dim x dim row-major. */
  chol: Float64Array[]
  /** log det L of each component. */
  logDet: number[]
}

/** Fit one Gaussian per digit: mean, covariance + `shrink` I, Cholesky factor. */
export function fitDigitGaussians(data: DigitImages, digits: number[], shrink: number): DigitGaussians {
  const d = data.side * data.side
  const means: Float64Array[] = []
  const chol: Float64Array[] = []
  const logDet: number[] = []
  for (const digit of digits) {
    const rows: number[] = []
    data.labels.forEach((l, i) => l === digit && rows.push(i))
    const m = new Float64Array(d)
    for (const i of rows) for (let a = 0; a < d; a++) m[a] += data.images[i * d + a] / rows.length
    const S = new Float64Array(d * d)
    for (const i of rows) {
      for (let a = 0; a < d; a++) {
        const va = data.images[i * d + a] - m[a]
        for (let b = 0; b <= a; b++) S[a * d + b] += (va * (data.images[i * d + b] - m[b])) / rows.length
      }
    }
    for (let a = 0; a < d; a++) S[a * d + a] += shrink
    const L = cholesky(S, d)
    means.push(m)
    chol.push(L)
    let ld = 0
    for (let a = 0; a < d; a++) ld += Math.log(L[a * d + a])
    logDet.push(ld)
  }
  return { digits, dim: d, means, chol, logDet }
}

/** Lower Cholesky factor of the symmetric positive-definite S (its lower triangle is read). */
function cholesky(S: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d)
  for (let j = 0; j < d; j++) {
    let s = S[j * d + j]
    for (let k = 0; k < j; k++) s -= L[j * d + k] ** 2
    L[j * d + j] = Math.sqrt(s)
    for (let i = j + 1; i < d; i++) {
      let t = S[i * d + j]
      for (let k = 0; k < j; k++) t -= L[i * d + k] * L[j * d + k]
      L[i * d + j] = t / L[j * d + j]
    }
  }
  return L
}

/** Inverse of a lower-triangular matrix. */
function invertLower(L: Float64Array, d: number): Float64Array {
  const M = new Float64Array(d * d)
  for (let j = 0; j < d; j++) {
    M[j * d + j] = 1 / L[j * d + j]
    for (let i = j + 1; i < d; i++) {
      let s = 0
      for (let k = j; k < i; k++) s -= L[i * d + k] * M[k * d + j]
      M[i * d + j] = s / L[i * d + i]
    }
  }
  return M
}

/**
 * The mixture as a base energy: U_base(x) = -log sum_c exp(-|L_c^-1 (x - mu_c)|^2 / 2 - log det L_c
 * - z_c), z the learnable log-weight offsets (group `'logWeights'`, 0 at the start: equal weights).
 * Its Z is (2 pi)^(d/2) sum_c exp(-z_c).
 */
export function mixtureBase(g: DigitGaussians): CnnBase & {
  /** The learnable log-weight offsets z (K). */
  logWeights: TF.Variable
} {
  const tf = loadTf()
  const d = g.dim
  const K = g.means.length
  // z_c = (x - mu_c) M_c^T with M_c = L_c^-1: one [n, d] x [d, d] product per component.
  const W = g.chol.map((L) => {
    const M = invertLower(L, d)
    const t = new Float32Array(d * d)
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) t[j * d + i] = M[i * d + j]
    return tf.keep(tf.tensor2d(t, [d, d]))
  })
  const mu = g.means.map((m) => tf.keep(tf.tensor1d(Float32Array.from(m))))
  const logDet = tf.keep(tf.tensor1d(g.logDet))
  const logWeights = tf.variable(tf.zeros([K]), true, 'mnist-base/logWeights')
  const energy = (x: TF.Tensor2D): TF.Tensor1D => {
    const q = tf.stack(W.map((w, c) => tf.sum(tf.square(tf.matMul(tf.sub(x, mu[c]), w)), 1)), 1)
    return tf.neg(tf.logSumExp(tf.sub(tf.sub(tf.mul(q, -0.5), logDet), logWeights), 1)) as TF.Tensor1D
  }
  return { energy, parameters: [{ name: 'base/logWeights', variable: logWeights, group: 'logWeights' }], logWeights }
}

/** log Z of the mixture at equal weights (z = 0): (d/2) log(2 pi) + log K. */
export function mixtureLogZ0(g: DigitGaussians): number {
  return 0.5 * g.dim * Math.log(2 * Math.PI) + Math.log(g.means.length)
}

/** `n` exact samples of the equal-weight mixture: n / K per component (stratified), in turn. */
export function sampleMixture(g: DigitGaussians, n: number, seed: bigint): Float32Array {
  const d = g.dim
  const z = fillNormals(new Float32Array(n * d), { dim: d, seed, stream: 'init' })
  const out = new Float32Array(n * d)
  const K = g.means.length
  for (let i = 0; i < n; i++) {
    const c = i % K
    const L = g.chol[c]
    for (let a = 0; a < d; a++) {
      let v = g.means[c][a]
      for (let b = 0; b <= a; b++) v += L[a * d + b] * z[i * d + b]
      out[i * d + a] = v
    }
  }
  return out
}
