#!/usr/bin/env node
// The pack proof: what a user gets from `npm install jarzyn`, checked on this machine without Rust.
//
//   npm run test:pack          (after a build: `npm install` or `npm run build`)
//
// 1. `npm pack --dry-run` of the repository lists only what users need.
// 2. A copy of the package in a temporary folder gets the host's platform package filled by
//    `napi artifacts` and its optionalDependencies written by `napi pre-publish
//    --skip-optional-publish --no-gh-release` (nothing is published; the repository's files are not
//    touched), then both are packed with `npm pack`.
// 3. In a fresh temporary folder, with a PATH that has no cargo/rustc, `npm install` both tarballs,
//    type-check a TypeScript training script with `tsc --strict` (module node16), run it, load the
//    package and its `jarzyn/experiments` entry with `import` and `require`, run
//    `npx jarzyn gmm ... --json` and parse its output.
// 4. With the platform package deleted, `require('jarzyn')` fails with ERR_JARZYN_NO_NATIVE naming it.
//
// Prints one PASS/FAIL line per check and exits non-zero when any fails. Environment:
// PACK_CHECK_KEEP=1 keeps the temporary folder; PACK_CHECK_OPTIONAL=1 installs optional dependencies
// too (by default `--omit=optional`: @tensorflow/tfjs-node's install downloads libtensorflow, which is
// slow and not reachable everywhere; the platform package is installed explicitly either way).
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

import { childEnv } from './lib/child-env.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(ROOT, 'package.json'))
const isWin = process.platform === 'win32'
const t0 = performance.now()
const results = []
let failed = false

// ---------------------------------------------------------------------------------------------
// helpers

/** npm's own CLI scripts, run with this node (no .cmd shims, no shell, works on Windows too). */
function npmCli(name) {
  const candidates = []
  if (process.env.npm_execpath?.endsWith('.js')) candidates.push(join(dirname(process.env.npm_execpath), `${name}-cli.js`))
  candidates.push(join(dirname(process.execPath), 'node_modules', 'npm', 'bin', `${name}-cli.js`))
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', `${name}-cli.js`))
  const found = candidates.find((p) => existsSync(p))
  return found ? [process.execPath, found] : [name]
}

function run(cmd, args, { cwd = ROOT, env = childEnv(), timeout = 300_000 } = {}) {
  const [exe, ...pre] = cmd
  const r = spawnSync(exe, [...pre, ...args], {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout,
    maxBuffer: 64 * 1024 * 1024,
    shell: isWin && pre.length === 0,
  })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  if (r.error) throw new Error(`${[exe, ...pre, ...args].join(' ')}: ${r.error.message}\n${out}`)
  if (r.status !== 0) throw new Error(`${[...pre.slice(-1), ...args].join(' ')} exited with ${r.status}\n${out.trim().split('\n').slice(-25).join('\n')}`)
  return r.stdout ?? ''
}

const NPM = npmCli('npm')
const NPX = npmCli('npx')
const TSC = [process.execPath, require.resolve('typescript/bin/tsc')]
const napiPkg = require('@napi-rs/cli/package.json')
const NAPI = [process.execPath, join(dirname(require.resolve('@napi-rs/cli/package.json')), typeof napiPkg.bin === 'string' ? napiPkg.bin : napiPkg.bin.napi)]

/** Run one check: PASS/FAIL line with its time; `fatal` checks stop the run on failure. */
function check(name, fn, { fatal = false } = {}) {
  const start = performance.now()
  try {
    const detail = fn()
    const s = ((performance.now() - start) / 1000).toFixed(1)
    results.push(`PASS ${name} (${s} s)${detail ? `: ${detail}` : ''}`)
    console.log(results.at(-1))
    return true
  } catch (e) {
    const s = ((performance.now() - start) / 1000).toFixed(1)
    failed = true
    results.push(`FAIL ${name} (${s} s)`)
    console.log(results.at(-1))
    console.log(String(e?.stack ?? e).replace(/^/gm, '    '))
    if (fatal) finish()
    return false
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}

let work = null
function finish() {
  if (work && process.env.PACK_CHECK_KEEP !== '1') rmSync(work, { recursive: true, force: true })
  else if (work) console.log(`kept ${work}`)
  const total = ((performance.now() - t0) / 1000).toFixed(1)
  // The last line is the plain 'N passed, N failed' form that CI readers recognise.
  console.log(`\npack check took ${total} s`)
  console.log(`pack: ${results.filter((r) => r.startsWith('PASS')).length} passed, ${results.filter((r) => r.startsWith('FAIL')).length} failed`)
  process.exit(failed ? 1 : 0)
}

const sha = (p) => createHash('sha256').update(readFileSync(p)).digest('hex')

// ---------------------------------------------------------------------------------------------
// the host platform and its artifact

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const RUST_TRIPLE = {
  'linux-x64-gnu': 'x86_64-unknown-linux-gnu',
  'linux-arm64-gnu': 'aarch64-unknown-linux-gnu',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
  'win32-x64-msvc': 'x86_64-pc-windows-msvc',
}
function hostAbi() {
  const base = `${process.platform}-${process.arch}`
  if (process.platform === 'win32') return `${base}-msvc`
  if (process.platform !== 'linux') return base
  return `${base}-${process.report?.getReport?.()?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
}
const abi = hostAbi()
const triple = RUST_TRIPLE[abi]
const binaryName = pkg.napi.binaryName
const nodeFile = `${binaryName}.${abi}.node`
const platformPkg = `${pkg.name}-${abi}`

console.log(`pack check: ${pkg.name}@${pkg.version}, host ${abi}, node ${process.version}`)

check('prerequisites: host is a configured target, addon and dist/ are built', () => {
  assert(triple && pkg.napi.targets.includes(triple), `host ${abi} is not among napi.targets (${pkg.napi.targets.join(', ')})`)
  assert(existsSync(join(ROOT, 'native', nodeFile)), `native/${nodeFile} is missing: run npm run build first`)
  const entries = ['index.js', 'index.mjs', 'experiments/index.js', 'experiments/index.mjs'].map((f) => join(ROOT, 'dist', f))
  assert(entries.every((f) => existsSync(f)), 'dist/ is missing or incomplete: run npm run build first')
  assert(existsSync(join(ROOT, 'npm', abi, 'package.json')), `npm/${abi}/package.json is missing (napi create-npm-dirs)`)
  return `${triple}, ${platformPkg}`
}, { fatal: true })

// ---------------------------------------------------------------------------------------------
// 1. what `npm pack` of the repository would publish

let packedFiles = []
check('npm pack --dry-run lists only what users need', () => {
  const json = JSON.parse(run(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts']))
  packedFiles = json[0].files.map((f) => f.path.replaceAll('\\', '/')).sort()
  const allowed = /^(dist\/.+\.(js|mjs|d\.ts)|native\/index\.(js|d\.ts)|README\.md|LICENSE|CHANGELOG\.md|package\.json)$/
  const stray = packedFiles.filter((f) => !allowed.test(f))
  assert(stray.length === 0, `unexpected files in the package: ${stray.join(', ')}`)
  const forbidden = packedFiles.filter((f) => /\.node$|^ts\/|^crates\/|^__test__\/|^examples\/|^scripts\/|^npm\/|\.map$/.test(f))
  assert(forbidden.length === 0, `forbidden files: ${forbidden.join(', ')}`)
  const required = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'native/index.js', 'native/index.d.ts', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/experiments/index.js', 'dist/experiments/index.mjs', 'dist/experiments/index.d.ts', pkg.bin.jarzyn]
  const missing = required.filter((f) => !packedFiles.includes(f))
  assert(missing.length === 0, `missing from the package: ${missing.join(', ')}`)
  return `${packedFiles.length} files, ${(json[0].size / 1024).toFixed(0)} kB packed`
}, { fatal: true })

// ---------------------------------------------------------------------------------------------
// 2. stage a copy, fill the platform package, write optionalDependencies, pack both

work = mkdtempSync(join(tmpdir(), 'jarzyn-pack-'))
const stage = join(work, 'stage', pkg.name)
const tarballs = join(work, 'tarballs')
const app = join(work, 'app')
const guarded = [join(ROOT, 'package.json'), ...readdirSync(join(ROOT, 'npm')).map((d) => join(ROOT, 'npm', d, 'package.json'))]
const before = guarded.map(sha)
let mainTgz = ''
let platformTgz = ''

check(`napi artifacts fills npm/${abi} in a staged copy`, () => {
  for (const f of packedFiles) {
    mkdirSync(dirname(join(stage, f)), { recursive: true })
    cpSync(join(ROOT, f), join(stage, f))
  }
  cpSync(join(ROOT, 'npm'), join(stage, 'npm'), { recursive: true })
  // The local build has one target; napi artifacts and pre-publish require every configured one, so
  // both run with a napi config limited to the host (the release workflow runs them with all five).
  writeFileSync(join(work, 'napi-host.json'), JSON.stringify({ binaryName, targets: [triple] }))
  mkdirSync(join(work, 'artifacts'))
  cpSync(join(ROOT, 'native', nodeFile), join(work, 'artifacts', nodeFile))
  run(NAPI, ['artifacts', '--cwd', stage, '--config-path', join(work, 'napi-host.json'), '--output-dir', join(work, 'artifacts'), '--npm-dir', 'npm'], { cwd: stage })
  assert(existsSync(join(stage, 'npm', abi, nodeFile)), `npm/${abi}/${nodeFile} was not written`)
  assert(sha(join(stage, 'npm', abi, nodeFile)) === sha(join(ROOT, 'native', nodeFile)), 'the copied addon differs from the build')
}, { fatal: true })

check('napi pre-publish --skip-optional-publish writes optionalDependencies (copy only, nothing published)', () => {
  // --no-gh-release: no GitHub release; NPM_CONFIG_DRY_RUN: belt and braces against any publish.
  run(NAPI, ['pre-publish', '--cwd', stage, '--config-path', join(work, 'napi-host.json'), '--npm-dir', 'npm', '--skip-optional-publish', '--no-gh-release'], {
    cwd: stage,
    env: childEnv({ NPM_CONFIG_DRY_RUN: 'true', GITHUB_TOKEN: '', GITHUB_REPOSITORY: '' }),
  })
  const staged = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'))
  assert(staged.optionalDependencies?.[platformPkg] === pkg.version, `optionalDependencies lacks ${platformPkg}@${pkg.version}: ${JSON.stringify(staged.optionalDependencies)}`)
  for (const [dep, range] of Object.entries(pkg.optionalDependencies ?? {})) {
    assert(staged.optionalDependencies[dep] === range, `pre-publish dropped the optional dependency ${dep}`)
  }
  const after = guarded.map(sha)
  const changed = guarded.filter((_, i) => before[i] !== after[i])
  assert(changed.length === 0, `the repository was modified: ${changed.join(', ')}`)
  return `optionalDependencies ${JSON.stringify(staged.optionalDependencies)}`
}, { fatal: true })

check('npm pack: main and platform tarballs', () => {
  mkdirSync(tarballs)
  const main = JSON.parse(run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], { cwd: stage }))[0]
  const plat = JSON.parse(run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], { cwd: join(stage, 'npm', abi) }))[0]
  mainTgz = join(tarballs, main.filename)
  platformTgz = join(tarballs, plat.filename)
  const mainFiles = main.files.map((f) => f.path.replaceAll('\\', '/'))
  assert(!mainFiles.some((f) => f.endsWith('.node')), 'the main tarball holds a .node file')
  assert(mainFiles.length === packedFiles.length, `main tarball has ${mainFiles.length} files, the dry run ${packedFiles.length}`)
  const platFiles = plat.files.map((f) => f.path).sort()
  assert(platFiles.includes(nodeFile) && !platFiles.some((f) => /^(ts|crates|src)\//.test(f)), `platform tarball files: ${platFiles.join(', ')}`)
  return `${main.filename} (${(main.size / 1024).toFixed(0)} kB), ${plat.filename} (${(plat.size / 1024).toFixed(0)} kB: ${platFiles.join(', ')})`
}, { fatal: true })

// ---------------------------------------------------------------------------------------------
// 3. a fresh project, no Rust toolchain

const RUST_TOOLS = ['cargo', 'rustc', 'rustup'].flatMap((t) => (isWin ? [`${t}.exe`, `${t}.cmd`] : [t]))
const hasRust = (d) => RUST_TOOLS.some((t) => existsSync(join(d, t)))
const pathDirs = (process.env.PATH ?? process.env.Path ?? '').split(delimiter).filter((d) => d && !hasRust(d))
// Lifecycle scripts run `node` from the PATH: if node shares its folder with cargo, link it alone.
if (!pathDirs.some((d) => existsSync(join(d, isWin ? 'node.exe' : 'node')))) {
  const nodeBin = join(work, 'node-bin')
  mkdirSync(nodeBin)
  if (isWin) cpSync(process.execPath, join(nodeBin, 'node.exe'))
  else symlinkSync(process.execPath, join(nodeBin, 'node'))
  pathDirs.unshift(nodeBin)
}
const noRustPath = pathDirs.join(delimiter)
const appEnv = childEnv({ PATH: noRustPath, ...(isWin ? { Path: noRustPath } : {}), CARGO: '', RUSTC: '', NAPI_RS_NATIVE_LIBRARY_PATH: '' })
delete appEnv.NAPI_RS_NATIVE_LIBRARY_PATH

check('no cargo/rustc on the PATH of the fresh project', () => {
  const probe = isWin
    ? spawnSync('where', ['cargo'], { env: appEnv, encoding: 'utf8', shell: true })
    : spawnSync('sh', ['-c', 'command -v cargo || command -v rustc'], { env: appEnv, encoding: 'utf8' })
  assert(probe.status !== 0, `cargo is still reachable: ${probe.stdout}`)
  const direct = spawnSync('cargo', ['--version'], { env: appEnv, encoding: 'utf8' })
  assert(direct.error?.code === 'ENOENT' || direct.status !== 0, 'spawning cargo succeeded')
  return 'command -v cargo fails'
}, { fatal: true })

const TRAIN_TS = `// Written by scripts/pack-check.mjs: a user's training script against the installed package.
import { GaussianMixtureEnergy, Sampler, Trainer, fillNormals, isJarzynError, type IterationStats } from 'jarzyn'
import { linePlot, type Series } from 'jarzyn/experiments'

async function main(): Promise<void> {
  // Data: unit Gaussians at -4 e1 (weight 0.3) and +3 e1 (weight 0.7) in 3-D.
  const d = 3
  const truth = new GaussianMixtureEnergy({ dim: d, means: [[-4, 0, 0], [3, 0, 0]], logWeights: [-Math.log(0.3), -Math.log(0.7)] })
  const { x: data } = truth.sample(1000, 7, { stratified: true })
  // Model: two components near the origin; learn the means and the second log-weight.
  const energy = new GaussianMixtureEnergy({ dim: d, means: [[-0.1, 0, 0], [0.1, 0, 0]], fixed: { logWeights: [0] } })
  const trainer = new Trainer({
    energy, data, walkers: 1000, stepSize: 0.1, seed: 1, threads: 2,
    optimizer: { type: 'adam', lr: 0.05 },
    resample: { scheme: 'systematic', essFraction: 0.5 },
  })
  let last: IterationStats | undefined
  for await (const s of trainer.run({ iterations: 150 })) last = s
  if (!last || !Number.isFinite(last.ess) || last.logZ === null) throw new Error('no stats')
  const weights: number[] = energy.mixtureWeights()
  trainer.dispose()
  const series: Series[] = [{ label: 'weight', x: [0, 1], y: [0.5, weights[0]] }]
  const svg: string = linePlot(series, { title: 'weight', xLabel: 'iteration', yLabel: 'weight' })

  // One Sampler step by hand: U(x) = |x|^2 / 2.
  const n = 256
  const s = new Sampler({ walkers: n, dim: 2, stepSize: 0.1, seed: 3 })
  fillNormals(s.positions, { dim: 2, seed: 1, stream: 'init' })
  const evaluate = (): [Float32Array, Float32Array] => {
    const u = new Float32Array(n)
    const g = new Float32Array(2 * n)
    for (let i = 0; i < 2 * n; i++) { g[i] = s.positions[i]; u[i >> 1] += 0.5 * g[i] * g[i] }
    return [u, g]
  }
  s.observe(...evaluate())
  s.move()
  s.observe(...evaluate())
  const ess: number = s.ess()
  s.dispose()

  let code = ''
  try { new Sampler({ walkers: 0, dim: 1, stepSize: 0.1 }) } catch (e) { if (isJarzynError(e)) code = e.code }
  console.log(JSON.stringify({ iteration: last.iteration, weights, essFraction: last.essFraction, samplerEss: ess, code, svg: svg.startsWith('<svg') }))
}

main().catch((e) => { console.error(e); process.exitCode = 1 })
`

/** Mode bits of each regular file in a .tgz (ustar headers: name at 0, mode at 100, size at 124, prefix at 345). */
function tarModes(tgz) {
  const buf = gunzipSync(readFileSync(tgz))
  const modes = new Map()
  for (let off = 0; off + 512 <= buf.length; ) {
    const field = (a, n) => buf.subarray(off + a, off + a + n).toString('latin1').replace(/\0.*$/s, '')
    const name = field(0, 100)
    if (name === '') break
    const prefix = field(345, 155)
    const size = parseInt(field(124, 12).trim() || '0', 8)
    modes.set(prefix ? `${prefix}/${name}` : name, parseInt(field(100, 8).trim(), 8))
    off += 512 + Math.ceil(size / 512) * 512
  }
  return modes
}

check('the packed bin script keeps its execute bits (npx jarzyn runs it directly)', () => {
  const modes = tarModes(mainTgz)
  const entry = `package/${pkg.bin.jarzyn}`
  const mode = modes.get(entry)
  assert(mode !== undefined, `${entry} not in the tarball`)
  assert((mode & 0o111) === 0o111, `${entry} has mode ${mode.toString(8)}`)
  return `${pkg.bin.jarzyn}: ${mode.toString(8)}`
})

check('npm install both tarballs in a fresh folder (no Rust toolchain)', () => {
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'jarzyn-pack-check-app', version: '1.0.0', private: true }, null, 2))
  const tsVersion = require('typescript/package.json').version
  const typesNode = require('@types/node/package.json').version
  const args = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--workspaces=false', mainTgz, platformTgz, `typescript@${tsVersion}`, `@types/node@${typesNode}`]
  if (process.env.PACK_CHECK_OPTIONAL !== '1') args.push('--omit=optional')
  run(NPM, args, { cwd: app, env: appEnv, timeout: 600_000 })
  const installed = JSON.parse(readFileSync(join(app, 'node_modules', pkg.name, 'package.json'), 'utf8'))
  assert(installed.version === pkg.version, `installed ${installed.version}`)
  assert(existsSync(join(app, 'node_modules', platformPkg, nodeFile)), `${platformPkg}/${nodeFile} not installed`)
  assert(!existsSync(join(app, 'node_modules', pkg.name, 'native', nodeFile)), 'the main package holds a local build')
  return `${pkg.name}@${installed.version} + ${platformPkg}`
}, { fatal: true })

check('tsc --strict (module node16) type-checks a training script against the installed package', () => {
  writeFileSync(join(app, 'train.ts'), TRAIN_TS)
  writeFileSync(join(app, 'check-esm.mts'), `import { Sampler, Trainer, type TrainerOptions } from 'jarzyn'\nimport jarzyn from 'jarzyn'\nimport { PAPER_GMM_CONFIG, runGmmExperiment, type GmmConfig } from 'jarzyn/experiments'\nconst o: Partial<TrainerOptions> = { walkers: 1 }\nconst c: GmmConfig = { ...PAPER_GMM_CONFIG, iterations: 1 }\nexport const ok: boolean = typeof Sampler === 'function' && typeof Trainer === 'function' && typeof jarzyn.Trainer === 'function' && o.walkers === 1 && typeof runGmmExperiment === 'function' && c.iterations === 1\n`)
  const tsconfig = (skipLibCheck) => ({ compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', outDir: 'out', types: ['node'], skipLibCheck }, files: ['train.ts', 'check-esm.mts'] })
  const tsc = [process.execPath, join(app, 'node_modules', 'typescript', 'bin', 'tsc')]
  // A user's configuration (skipLibCheck, as `tsc --init` writes it): must compile cleanly.
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig(true), null, 2))
  run(tsc, ['-p', 'tsconfig.json', '--strict'], { cwd: app, env: appEnv })
  assert(existsSync(join(app, 'out', 'train.js')), 'no out/train.js')
  // jarzyn's own declarations, checked too (@tensorflow's have strict-mode errors of their own).
  writeFileSync(join(app, 'tsconfig.lib.json'), JSON.stringify({ ...tsconfig(false), compilerOptions: { ...tsconfig(false).compilerOptions, noEmit: true } }, null, 2))
  const r = spawnSync(tsc[0], [tsc[1], '-p', 'tsconfig.lib.json', '--strict', '--pretty', 'false'], { cwd: app, env: appEnv, encoding: 'utf8' })
  const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /error TS/.test(l) && !l.startsWith('node_modules/@tensorflow/'))
  assert(ours.length === 0, `errors outside @tensorflow's declarations:\n${ours.join('\n')}`)
  return 'train.ts (CommonJS) and check-esm.mts (ES module); jarzyn\'s .d.ts clean with skipLibCheck off'
})

check('the training script runs (Trainer on GaussianMixtureEnergy, a Sampler step, a plot from jarzyn/experiments)', () => {
  const out = run([process.execPath], [join('out', 'train.js')], { cwd: app, env: appEnv })
  const r = JSON.parse(out.trim().split('\n').at(-1))
  assert(r.iteration === 149, `last iteration ${r.iteration}`)
  assert(r.weights.length === 2 && Math.abs(r.weights[0] + r.weights[1] - 1) < 1e-9, `weights ${r.weights}`)
  assert(r.samplerEss > 0 && r.samplerEss <= 256, `sampler ESS ${r.samplerEss}`)
  assert(r.code === 'ERR_JARZYN_INVALID_OPTION', `error code ${r.code}`)
  assert(r.svg === true, 'linePlot from jarzyn/experiments did not draw an SVG')
  return `weights [${r.weights.map((w) => w.toFixed(3))}] (data [0.3, 0.7]), ESS/N ${r.essFraction.toFixed(3)}`
})

check("import 'jarzyn' (ES module)", () => {
  const out = run([process.execPath], ['--input-type=module', '-e', "import * as j from 'jarzyn'; import d from 'jarzyn'; const s = new j.Sampler({ walkers: 4, dim: 1, stepSize: 0.1, seed: 1 }); console.log(typeof j.Trainer, typeof j.GaussianMixtureEnergy, d.Sampler === j.Sampler, s.walkers)"], { cwd: app, env: appEnv })
  assert(out.trim() === 'function function true 4', out)
  return out.trim()
})

check("require('jarzyn') (CommonJS)", () => {
  const out = run([process.execPath], ['-e', "const j = require('jarzyn'); const s = new j.Sampler({ walkers: 4, dim: 1, stepSize: 0.1, seed: 1 }); console.log(typeof j.Trainer, typeof j.GaussianMixtureEnergy, require.resolve('jarzyn').endsWith('index.js'), s.walkers)"], { cwd: app, env: appEnv })
  assert(out.trim() === 'function function true 4', out)
  return out.trim()
})

check("import 'jarzyn/experiments' (ES module)", () => {
  const out = run([process.execPath], ['--input-type=module', '-e', "import * as x from 'jarzyn/experiments'; import d from 'jarzyn/experiments'; const svg = x.linePlot([{ label: 'a', x: [0, 1], y: [0, 1] }], { title: 't', xLabel: 'x', yLabel: 'y' }); console.log(typeof x.runGmmExperiment, typeof x.writeGmmReport, x.PAPER_GMM_CONFIG.dim, d.linePlot === x.linePlot, svg.startsWith('<svg'))"], { cwd: app, env: appEnv })
  assert(out.trim() === 'function function 50 true true', out)
  return out.trim()
})

check("require('jarzyn/experiments') (CommonJS)", () => {
  const out = run([process.execPath], ['-e', "const x = require('jarzyn/experiments'); console.log(typeof x.runGmmExperiment, typeof x.heatmapPlot, x.PALETTE.length > 0, require.resolve('jarzyn/experiments').replaceAll('\\\\', '/').endsWith('dist/experiments/index.js'))"], { cwd: app, env: appEnv })
  assert(out.trim() === 'function function true true', out)
  return out.trim()
})

check('npx jarzyn gmm --iterations 200 --json --dim 5 --data 500 --walkers 500', () => {
  const out = run(NPX, ['--no-install', 'jarzyn', 'gmm', '--iterations', '200', '--json', '--dim', '5', '--data', '500', '--walkers', '500'], { cwd: app, env: appEnv })
  const lines = out.split('\n').filter((l) => l.trim() !== '')
  assert(lines.length === 1, `expected one JSON line, got ${lines.length}:\n${out}`)
  const r = JSON.parse(lines[0])
  assert(r.method === 'jarzynski' && r.iterations === 200, `method ${r.method}, iterations ${r.iterations}`)
  assert(Array.isArray(r.weights) && r.weights.length === 2 && r.weights.every(Number.isFinite), `weights ${r.weights}`)
  assert(Number.isFinite(r.klExact) && Number.isFinite(r.klEstimate), `KL ${r.klExact} / ${r.klEstimate}`)
  return `weights [${r.weights.map((w) => w.toFixed(3))}], KL exact ${r.klExact.toFixed(3)}, estimate ${r.klEstimate.toFixed(3)}`
})

// ---------------------------------------------------------------------------------------------
// 4. the platform package missing

check(`without ${platformPkg}: require('jarzyn') throws ERR_JARZYN_NO_NATIVE naming it`, () => {
  rmSync(join(app, 'node_modules', platformPkg), { recursive: true, force: true })
  const probe = `try { require('jarzyn'); console.log(JSON.stringify({ loaded: true })) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
  const r = JSON.parse(run([process.execPath], ['-e', probe], { cwd: app, env: appEnv }).trim())
  assert(r.code === 'ERR_JARZYN_NO_NATIVE', `code ${r.code ?? '(loaded)'}`)
  assert(r.message.includes(platformPkg), `message does not name ${platformPkg}: ${r.message}`)
  assert(/build from source/.test(r.message), `message does not say how to build from source: ${r.message}`)
  return r.message.split('. ')[0]
})

finish()
