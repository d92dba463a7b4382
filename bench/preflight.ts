/**
 * Imported first by the bench: a missing native addon becomes one clear line instead of a stack.
 * @module
 */
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../native/index.js')
} catch (e) {
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e)
  process.stderr.write(`bench: cannot load the native addon (${msg}).\nBuild it first: npm run build\n`)
  process.exit(1)
}
