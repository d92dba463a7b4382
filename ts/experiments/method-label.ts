/**
 * How the training methods are named in tables, plots and pages.
 * @internal
 * @module
 */
import type { Method } from '../train/options'

export const METHOD_LABEL: Record<Method, string> = { jarzynski: 'Jarzynski', pcd: 'PCD', cd: 'CD' }
