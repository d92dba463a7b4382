#!/usr/bin/env node
// Runs a command with jarzyn's fake CUDA driver first on the library path, so that `device: 'cuda'`
// runs the real CUDA backend (CudaSampler & co.) on the CPU emulator of the kernels
// (crates/jarzyn-cuda-emu: libcuda.so with the emulated kernels, and a fake NVRTC).
//
//   node scripts/fake-cuda.mjs <command> [args...]     e.g. node scripts/fake-cuda.mjs npx ava __test__/device-cuda.spec.ts
//   node scripts/fake-cuda.mjs                          prints the environment to set
//
// Builds the emulator crate (cargo build --release, as `npm run test:rust` does) and takes the
// driver's folder from cargo's build-script output. Sets LD_LIBRARY_PATH (the driver is found by
// name: libcuda.so), JARZYN_NVRTC (its fake NVRTC) and JARZYN_CACHE_DIR= (no disk cache of the fake
// kernel images). Linux with glibc only: elsewhere it says so and exits 0 without running anything.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const glibc = process.platform === 'linux' && Boolean(process.report?.getReport?.().header?.glibcVersionRuntime)
if (!glibc) {
  console.log('fake CUDA driver: skipped (it is built on Linux with glibc only)')
  process.exit(0)
}

const build = spawnSync(
  'cargo',
  ['build', '--release', '-p', 'jarzyn-cuda-emu', '--features', 'jarzyn-core/cuda', '--message-format=json'],
  { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 },
)
if (build.status !== 0) {
  console.error('fake CUDA driver: cargo build -p jarzyn-cuda-emu failed')
  process.exit(build.status ?? 1)
}
let dir = null
for (const line of build.stdout.split('\n')) {
  if (!line.includes('build-script-executed')) continue
  const m = JSON.parse(line)
  if (m.package_id.includes('jarzyn-cuda-emu') && m.out_dir) dir = join(m.out_dir, 'fakecuda')
}
if (!dir || !existsSync(join(dir, 'libcuda.so'))) {
  console.error(`fake CUDA driver: libcuda.so not found in the emulator's build output (${dir})`)
  process.exit(1)
}
const env = {
  LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
  JARZYN_NVRTC: join(dir, 'libcuda.so'),
  JARZYN_CACHE_DIR: '',
  // Tells __test__/device-cuda.spec.ts to insist on the fake driver (no silent skip).
  JZ_FAKE_CUDA: '1',
}
const [cmd, ...args] = process.argv.slice(2)
if (!cmd) {
  for (const [k, v] of Object.entries(env)) console.log(`export ${k}='${v}'`)
  process.exit(0)
}
const r = spawnSync(cmd, args, { cwd: process.cwd(), stdio: 'inherit', env: { ...process.env, ...env } })
process.exit(r.status ?? 1)
