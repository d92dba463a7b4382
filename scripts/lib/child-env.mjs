// Environment for child processes of the repository's check scripts.

/**
 * The current environment without the npm_* variables of an enclosing `npm run` (they would point
 * nested npm commands at this repository), plus `extra`.
 */
export function childEnv(extra = {}) {
  const keep = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig'])
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase().startsWith('npm_') && !keep.has(k.toLowerCase())) continue
    env[k] = v
  }
  return { ...env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', ...extra }
}
