/**
 * Where jarzyn keeps files between processes (compiled CUDA kernels, trained classifiers):
 * `$JARZYN_CACHE_DIR` (set but empty: no disk cache), else `$XDG_CACHE_HOME/jarzyn`,
 * `%LOCALAPPDATA%\jarzyn` on Windows, `~/.cache/jarzyn`. The Rust core applies the same rule.
 * @internal
 * @module
 */
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The cache folder, or null when caching on disk is turned off. */
export function cacheDir(): string | null {
  const env = process.env
  if (env.JARZYN_CACHE_DIR !== undefined) return env.JARZYN_CACHE_DIR === '' ? null : env.JARZYN_CACHE_DIR
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'jarzyn')
  if (process.platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'jarzyn')
  return join(homedir(), '.cache', 'jarzyn')
}
