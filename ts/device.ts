/**
 * Where the walkers run: the CPU (the Rust core's thread pool) or an NVIDIA GPU (CUDA), and how to
 * find out whether CUDA can run here.
 * @module
 */
import native from './native'
import { jarzynError } from './errors'
import { describe } from './validate'

/**
 * The `device` option of {@link SamplerOptions}, {@link TrainerOptions} and the GMM experiment:
 * `'cpu'` (default), `'cuda'` (the GPU when it can run, else the CPU with a warning), or `'auto'`
 * (the GPU when it can run and the sampler has at least {@link CUDA_AUTO_MIN_ELEMENTS}
 * walkers x dim, else the CPU, silently).
 */
export type SamplerDevice = 'cpu' | 'cuda' | 'auto'

/** What a sampler actually runs on. */
export type ResolvedDevice = 'cpu' | 'cuda'

/** The values the `device` option accepts. */
export const DEVICES: readonly SamplerDevice[] = ['cpu', 'cuda', 'auto']

/**
 * `device: 'auto'` picks CUDA only for samplers with walkers x dim >= this (2^16 = 65536 floats,
 * e.g. 1024 walkers in 64 dimensions). Below it, a GPU step is dominated by kernel launches and
 * copies over PCIe (N d 4 bytes per read of the positions), and the CPU is faster.
 */
export const CUDA_AUTO_MIN_ELEMENTS = 65536

/** The GPU a CUDA sampler runs on (device 0). */
export interface CudaDeviceInfo {
  /** CUDA device ordinal (always 0 for now). */
  ordinal: number
  /** The device's name, e.g. `'NVIDIA H100 80GB HBM3'`. */
  name: string
  /** Compute capability `'major.minor'`, e.g. `'9.0'`. */
  computeCapability: string
  /** Device memory in bytes. */
  totalMemory: number
  /** CUDA version the driver supports, `'major.minor'`, e.g. `'12.4'`. */
  driverVersion: string
  /** How many CUDA devices the driver sees. */
  deviceCount: number
}

/** What {@link cudaStatus} reports. */
export interface CudaStatus {
  /** Whether CUDA samplers can be made: a driver for CUDA 12.2 or newer, a device and NVRTC were found. */
  available: boolean
  /** Why not, when `available` is false (no driver, no device, a driver too old, NVRTC missing, or a build without CUDA). */
  reason?: string
  /** Whether this build of the native addon has the CUDA backend (Linux and Windows builds do; macOS builds do not). */
  built: boolean
  /** Device 0's name, when a device was found. */
  name?: string
  /** Device 0's compute capability, `'major.minor'`. */
  computeCapability?: string
  /** Device 0's memory in bytes. */
  totalMemory?: number
  /** CUDA version the driver supports, `'major.minor'`. */
  driverVersion?: string
  /** How many CUDA devices the driver sees. */
  deviceCount?: number
  /** NVRTC's version, `'major.minor'`, when it was loaded. */
  nvrtcVersion?: string
  /** The NVRTC library that was loaded. */
  nvrtcPath?: string
  /** Why NVRTC could not be loaded (reported even when the driver is what is missing). */
  nvrtcError?: string
}

type NativeDeviceInfo = NonNullable<ReturnType<typeof native.cudaStatus>['device']>

/** @internal */
export function deviceInfoFromNative(d: NativeDeviceInfo): CudaDeviceInfo {
  return {
    ordinal: d.ordinal,
    name: d.name,
    computeCapability: `${d.ccMajor}.${d.ccMinor}`,
    totalMemory: d.totalMemory,
    driverVersion: `${Math.floor(d.driverVersion / 1000)}.${Math.floor((d.driverVersion % 1000) / 10)}`,
    deviceCount: d.deviceCount,
  }
}

/**
 * Whether the CUDA backend can run here, and on what. Probes the NVIDIA driver, device 0 and NVRTC
 * once per process; never throws (a missing driver or library is a `reason`, not an error). It does
 * not compile the kernels: that happens when the first CUDA sampler is made.
 *
 * @example
 * ```ts
 * import { cudaStatus } from 'jarzyn'
 * const st = cudaStatus()
 * console.log(st.available ? `CUDA on ${st.name} (sm ${st.computeCapability})` : `no CUDA: ${st.reason}`)
 * ```
 */
export function cudaStatus(): CudaStatus {
  const s = native.cudaStatus()
  const out: CudaStatus = { available: s.available, built: s.built }
  if (s.reason != null) out.reason = s.reason
  if (s.device != null) {
    const d = deviceInfoFromNative(s.device)
    out.name = d.name
    out.computeCapability = d.computeCapability
    out.totalMemory = d.totalMemory
    out.driverVersion = d.driverVersion
    out.deviceCount = d.deviceCount
  }
  if (s.nvrtcVersion != null) out.nvrtcVersion = s.nvrtcVersion
  if (s.nvrtcPath != null) out.nvrtcPath = s.nvrtcPath
  if (s.nvrtcError != null) out.nvrtcError = s.nvrtcError
  return out
}

/** @internal */
export function deviceOption(v: unknown, name = 'device'): SamplerDevice {
  if (v === undefined) return 'cpu'
  if (typeof v !== 'string' || !(DEVICES as readonly string[]).includes(v)) {
    throw jarzynError(
      typeof v === 'string' ? RangeError : TypeError,
      'ERR_JARZYN_INVALID_OPTION',
      `option \`${name}\` must be one of ${DEVICES.map((d) => `'${d}'`).join(', ')}, got ${typeof v === 'string' ? `'${v}'` : describe(v)}`,
    )
  }
  return v as SamplerDevice
}

const warned = new Set<string>()

/**
 * Warn once per process and reason that a CUDA sampler was asked for and the CPU runs instead
 * (`process.emitWarning`, code `JARZYN_CUDA_FALLBACK`).
 * @internal
 */
export function warnCudaFallback(reason: string): void {
  if (warned.has(reason)) return
  warned.add(reason)
  process.emitWarning(`CUDA is not usable, the sampler runs on the CPU: ${reason}`, {
    type: 'JarzynWarning',
    code: 'JARZYN_CUDA_FALLBACK',
    detail: "Check with jarzyn's cudaStatus(); pass device: 'cpu' to silence this warning.",
  })
}
