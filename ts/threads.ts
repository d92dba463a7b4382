/**
 * The default thread count: the CPUs this process may use.
 * @internal
 * @module
 */
import { availableParallelism, cpus } from 'node:os'

/** `os.availableParallelism()` where Node has it (>= 18.14), else the number of CPUs. */
export function defaultThreads(): number {
  return typeof availableParallelism === 'function' ? availableParallelism() : cpus().length
}
