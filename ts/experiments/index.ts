/**
 * `jarzyn/experiments`: the paper's experiments run on the library, with their reports and the SVG
 * plots they draw. The `jarzyn` command (`jarzyn gmm`, `jarzyn mnist`) runs them from a shell.
 *
 * @example
 * ```ts
 * import { PAPER_GMM_CONFIG, runGmmExperiment, writeGmmReport } from 'jarzyn/experiments'
 *
 * const config = { ...PAPER_GMM_CONFIG, iterations: 500 }
 * const results = await runGmmExperiment(config)
 * writeGmmReport('report', config, results)
 * ```
 * @module jarzyn/experiments
 */
export { runGmmExperiment, PAPER_GMM_CONFIG, dataMixture, initialModel } from './gmm/experiment'
export type { GmmConfig, GmmResult, GmmSeries, GmmProgress, GmmRunOptions } from './gmm/experiment'
export { runMnistExperiment, mnistSetup, walkersAndWeights } from './mnist/experiment'
export type { MnistResult, MnistSeries, MnistProgress, MnistRunOptions, MnistSetup } from './mnist/experiment'
export { PAPER_MNIST_CONFIG, MNIST_PRESETS, validateMnistConfig } from './mnist/config'
export type { MnistConfig, MnistPreset, MnistPresets } from './mnist/config'
export { loadDigits, PAPER_DIGITS } from './mnist/data'
export type { DigitImages, DigitSelection } from './mnist/data'
export { digitClassifier, massesOf } from './mnist/classifier'
export type { DigitClassifier, ClassifierOptions } from './mnist/classifier'
export { fitDigitGaussians, mixtureBase, mixtureLogZ0, sampleMixture } from './mnist/base'
export type { DigitGaussians } from './mnist/base'
export { writeMnistReport, mnistSummary } from './mnist/report'
export { imageGridPng } from './mnist/image-grid'
export type { ImageGridOptions } from './mnist/image-grid'
export { startLiveServer, LiveServer } from './live/server'
export type { LiveServerOptions } from './live/server'
export type {
  LiveLayout,
  LivePanel,
  LiveLinesPanel,
  LivePicturePanel,
  LiveSeriesSpec,
  LivePicture,
  LiveHeatmap,
  LiveImage,
  LiveDots,
} from './live/protocol'
export { writeGmmReport } from './gmm/report'
export { linePlot, scatterPlot, heatmapPlot, PALETTE, LEGEND_COLUMN } from './svg-plots'
export type { Series, ChartOptions, Cloud, HeatmapOptions } from './svg-plots'
