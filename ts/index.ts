/**
 * jarzyn: energy-based models trained with Jarzynski-weighted Langevin walkers
 * (Carbone, Hua, Coste & Vanden-Eijnden, NeurIPS 2023). The paper's experiments, their reports and
 * SVG plots are in `jarzyn/experiments`.
 * @packageDocumentation
 * @module jarzyn
 */
export { Sampler, RESAMPLE_SCHEMES } from './sampler'
export type { SamplerOptions, ResampleScheme, WeightSummary, ObserveReport, MaybeResampleOptions } from './sampler'
export { cudaStatus, CUDA_AUTO_MIN_ELEMENTS, DEVICES } from './device'
export type { SamplerDevice, ResolvedDevice, CudaStatus, CudaDeviceInfo } from './device'
export { fillNormals } from './normals'
export type { FillNormalsOptions, RngStream } from './normals'
export { isJarzynError } from './errors'
export type { JarzynError, JarzynErrorCode } from './errors'
export { measureCopyBandwidth } from './diagnostics'
export { Trainer } from './trainer'
export type { TrainerOptions, Method, ResampleOptions, RunOptions, WalkerInit } from './train/options'
export type { IterationStats } from './train/step'
export { GaussianMixtureEnergy } from './gmm'
export type { GaussianMixtureOptions, MixtureOptions, MixtureGroup } from './gmm-options'
export type { Energy, ParamInfo, SurrogateGrad } from './energy'
export { Optimizer, scheduleFactor } from './optim'
export type { OptimizerOptions, Schedule, OptimizerState } from './optim'
export { Profiler, SECTIONS } from './profiler'
export type { Section, Timings } from './profiler'
export { initTensorflow, availableTfBackends, TF_BACKENDS } from './tf/backend'
export type { InitTensorflowOptions, TensorflowHandle, TfBackendName } from './tf/backend'
export { TfEnergy } from './tf/tf-energy'
export type { TfEnergyOptions, TfParameter } from './tf/tf-energy'
export { mlpEnergy } from './tf/mlp'
export type { MlpEnergyOptions } from './tf/mlp'
export { cnnEnergy } from './tf/cnn'
export type { CnnEnergyOptions, ConvLayerOptions } from './tf/cnn'
export { ACTIVATIONS } from './tf/activations'
export type { Activation } from './tf/activations'
export { TfGaussianMixtureEnergy } from './tf/tf-gmm'
export type { TfGaussianMixtureOptions } from './tf/tf-gmm'
