/**
 * The native addon, loaded by the napi-rs generated loader: a local build first
 * (`native/jarzyn.<platform>.node`), then the platform package `jarzyn-<platform>`.
 * @internal
 * @module
 */
import { jarzynError } from './errors'

type NativeModule = typeof import('../native/index.js')

/** The platform suffix napi-rs uses, e.g. `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
export function platformTriple(): string {
  const base = `${process.platform}-${process.arch}`
  if (process.platform === 'win32') return `${base}-msvc`
  if (process.platform !== 'linux') return base
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined
  return `${base}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
}

function load(): NativeModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../native/index.js') as NativeModule
  } catch (e) {
    const triple = platformTriple()
    const first = (e as Error)?.message?.split('\n')[0] ?? String(e)
    throw jarzynError(
      Error,
      'ERR_JARZYN_NO_NATIVE',
      `jarzyn's native addon for ${triple} is missing. Install the prebuilt package: npm install jarzyn-${triple} ` +
        `(an optional dependency of jarzyn, skipped when optional dependencies are omitted), or build from source: ` +
        `clone the repository and run npm install (needs a Rust toolchain, https://rustup.rs). Loader said: ${first}`,
    )
  }
}

const native: NativeModule = load()
export default native

/**
 * The native walkers behind each `Sampler`, for the library's own native fast paths (a trainer's
 * fused iteration); kept out of the `Sampler` class so that its API stays the walkers' alone.
 */
export const nativeSamplers = new WeakMap<object, InstanceType<NativeModule['NativeSampler']>>()
