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
export { Trainer } from './trainer'
export type { TrainerOptions, IterationStats, Method, ResampleOptions, RunOptions, WalkerInit } from './trainer'
export { GaussianMixtureEnergy } from './gmm'
export type { GaussianMixtureOptions } from './gmm'
export type { Energy, ParamInfo, SurrogateGrad } from './energy'
export { Optimizer, scheduleFactor } from './optim'
export type { OptimizerOptions, Schedule, OptimizerState } from './optim'
export { Profiler, SECTIONS } from './profiler'
export type { Section, Timings } from './profiler'
