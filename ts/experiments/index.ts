/**
 * `jarzyn/experiments`: the paper's experiments run on the library, with their reports and the SVG
 * plots they draw. The `jarzyn` command (`jarzyn gmm`) runs them from a shell.
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
export { linePlot, scatterPlot, heatmapPlot, PALETTE } from './svg-plots'
export type { Series, ChartOptions, Cloud, HeatmapOptions } from './svg-plots'
