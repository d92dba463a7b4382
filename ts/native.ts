/**
 * The native addon, loaded by the napi-rs generated loader (a local build first, then the
 * platform package `jarzyn-<platform>`).
 * @internal
 * @module
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import native = require('../native/index.js')

export = native
