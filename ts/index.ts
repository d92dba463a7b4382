/**
 * jarzyn: energy-based models trained with Jarzynski-weighted Langevin walkers
 * (Carbone, Hua, Coste & Vanden-Eijnden, NeurIPS 2023).
 * @packageDocumentation
 */
export { Sampler, RESAMPLE_SCHEMES } from './sampler'
export type { SamplerOptions, ResampleScheme, WeightSummary, ObserveReport, MaybeResampleOptions } from './sampler'
export { fillNormals } from './rng'
export type { FillNormalsOptions, RngStream } from './rng'
export { isJarzynError } from './errors'
export type { JarzynError, JarzynErrorCode } from './errors'
export { measureCopyBandwidth } from './diagnostics'
