// The README's sampler example, runnable: `node --import tsx examples/sampler-basics.ts`.
import { Sampler, fillNormals } from 'jarzyn'

// U_theta(x) = |x - m|^2 / 2 with a mean m that moves; log Z = d/2 log(2 pi) for every m.
const N = 10_000, d = 2, h = 0.1
const s = new Sampler({ walkers: N, dim: d, stepSize: h, seed: 42 })
const energy = (m: number) => {
  const U = new Float32Array(N), G = new Float32Array(N * d)
  for (let i = 0; i < N * d; i++) { G[i] = s.positions[i] - m; U[(i / d) | 0] += 0.5 * G[i] ** 2 }
  return [U, G] as const
}
fillNormals(s.positions, { dim: d, seed: 1, stream: 'init' })   // exact samples of rho_theta0 (m = 0)
s.observe(...energy(0))
for (let k = 1; k <= 100; k++) {
  s.move()                                   // ULA step with the gradient at theta_{k-1}
  s.observe(...energy(0.02 * k))             // theta_k: the log-weights get the Jarzynski increment
  s.maybeResample({ essFraction: 0.5, scheme: 'systematic' })
}
const p = s.normalizedWeights()              // E_theta[f] ~ sum_i p_i f(X_i)
console.log('log Z_k - log Z_0 ~', s.logNormalizerRatio(), '(exact: 0), ESS', s.ess())
let mean = 0
for (let i = 0; i < N; i++) mean += p[i] * s.positions[i * d]
console.log('weighted mean of x[0]:', mean, '(exact: 2)')
