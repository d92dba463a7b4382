/**
 * How the training methods are named and coloured in tables, plots and pages.
 * @internal
 * @module
 */
import type { Method } from '../train/options'
import { PALETTE } from './svg-plots'

export const METHOD_LABEL: Record<Method, string> = { jarzynski: 'Jarzynski', pcd: 'PCD', cd: 'CD' }

export const METHOD_COLOR: Record<Method, string> = { jarzynski: PALETTE[0], pcd: PALETTE[1], cd: PALETTE[2] }
