/**
 * Files the experiments write whole or not at all (reports, progress beside a checkpoint): a
 * temporary name in the same folder, then a rename.
 * @module
 */
import { renameSync, writeFileSync } from 'node:fs'

/** Write `data` to `path` atomically. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}

/** Write `value` as JSON to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeAtomic(path, JSON.stringify(value))
}
