/**
 * `npm run setup:tfjs-node` (scripts/setup-tfjs-node.mjs) without doing it: its options, the
 * platforms it refuses (pretended with JARZYN_TFJS_NODE_PLATFORM), and its dry run (`--check`),
 * which reports the plan and the cache folder and downloads, installs and writes nothing. Offline.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

import test from 'ava'

const SCRIPT = resolve(__dirname, '..', 'scripts', 'setup-tfjs-node.mjs')
const realPlatformSupported =
  process.platform === 'linux' && process.arch === 'x64' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })?.header?.glibcVersionRuntime)

function setup(args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const e: NodeJS.ProcessEnv = { ...process.env }
  for (const k of ['JARZYN_CACHE_DIR', 'XDG_CACHE_HOME', 'JARZYN_TFJS_NODE_PLATFORM']) delete e[k]
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete e[k]
    else e[k] = v
  }
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { env: e, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A cache folder that does not exist yet (the script must not create it). */
function freshCache(t: import('ava').ExecutionContext): string {
  const parent = mkdtempSync(join(tmpdir(), 'jarzyn-setup-spec-'))
  t.teardown(() => rmSync(parent, { recursive: true, force: true }))
  return join(parent, 'cache')
}

test('--help prints the usage and exits 0', (t) => {
  const r = setup(['--help'])
  t.is(r.status, 0)
  t.regex(r.stdout, /--check/)
  t.regex(r.stdout, /Linux x86_64 with glibc only/)
})

test('an unknown option is an error (exit 2) that names it', (t) => {
  const r = setup(['--chek'])
  t.is(r.status, 2)
  t.regex(r.stderr, /unknown option "--chek"/)
})

for (const platform of ['darwin-arm64', 'darwin-x64', 'win32-x64', 'linux-arm64', 'linux-x64-musl', 'linux-x64-glibc2.12']) {
  for (const args of [[], ['--check']]) {
    test(`${platform}${args.length ? ' ' + args[0] : ''}: unsupported, says so, exits 1 and does nothing`, (t) => {
      const cache = freshCache(t)
      const r = setup(args, { JARZYN_TFJS_NODE_PLATFORM: platform, JARZYN_CACHE_DIR: cache })
      t.is(r.status, 1)
      t.regex(r.stderr, /unsupported platform/)
      t.regex(r.stderr, /only Linux x86_64 with glibc >= 2\.17; nothing was done/)
      t.is(r.stdout, '', 'no step ran')
      t.false(existsSync(cache), 'the cache folder was not created')
    })
  }
}

const onSupported = realPlatformSupported ? test : test.skip

onSupported('--check reports the plan, downloads and writes nothing', (t) => {
  const cache = freshCache(t)
  const r = setup(['--check'], { JARZYN_CACHE_DIR: cache })
  t.true(r.status === 0 || r.status === 1, r.stderr)
  t.regex(r.stdout, /a dry run, nothing is downloaded, installed or written/)
  t.regex(r.stdout, /platform\s+linux x64, glibc [\d.]+: supported/)
  t.true(r.stdout.includes(`cache              ${join(cache, 'tfjs-node')} (empty)`), r.stdout)
  t.regex(r.stdout, /tensorflow-cpu==\d+\.\d+\.\d+/)
  t.regex(r.stdout, /\[always\]\s+check in a child process that initTensorflow\(\) starts 'tensorflow'/)
  if (r.status === 1) t.regex(r.stdout, /MISSING/)
  else t.regex(r.stdout, /it can run|everything is in place/)
  t.false(existsSync(cache), 'the cache folder was not created')
})

onSupported("--check: the cache folder follows jarzyn's rule (JARZYN_CACHE_DIR, empty, XDG_CACHE_HOME, HOME)", (t) => {
  const dir = freshCache(t)
  const cacheLine = (env: Record<string, string | undefined>) => /^\s*cache\s+(.*)$/m.exec(setup(['--check'], env).stdout)?.[1] ?? ''
  t.true(cacheLine({ JARZYN_CACHE_DIR: dir }).startsWith(join(dir, 'tfjs-node')))
  t.regex(cacheLine({ JARZYN_CACHE_DIR: '' }), /^none: JARZYN_CACHE_DIR is empty/)
  t.true(cacheLine({ XDG_CACHE_HOME: dir }).startsWith(join(dir, 'jarzyn', 'tfjs-node')))
  t.true(cacheLine({ HOME: dir }).startsWith(join(dir, '.cache', 'jarzyn', 'tfjs-node')))
  t.false(existsSync(dir))
})
