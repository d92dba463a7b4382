/**
 * Files written whole or not at all, for checkpoints, the progress saved beside them, reports and
 * caches: a temporary file in the same folder, fsync, rename over the target, fsync of the folder,
 * so that a crash mid-write never leaves a partial file or destroys the previous one.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** Write `data` (the parts one after the other) to `path` atomically and durably. */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const parts = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data
  // The writer's pid in the name lets a later writer remove what a killed one left (removeOrphans).
  const tmpPrefix = `.${basename(path)}.tmp-`
  const tmp = join(dirname(path), `${tmpPrefix}${process.pid}-${randomBytes(4).toString('hex')}`)
  const fd = openSync(tmp, 'w')
  try {
    for (const b of parts) {
      let done = 0
      while (done < b.length) done += writeSync(fd, b, done, b.length - done)
    }
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    try {
      unlinkSync(tmp)
    } catch {
      /* already gone */
    }
    throw e
  }
  closeSync(fd)
  renameSync(tmp, path)
  try {
    const dfd = openSync(dirname(path), 'r')
    fsyncSync(dfd)
    closeSync(dfd)
  } catch {
    // Some platforms (Windows) cannot fsync a folder; the rename is still atomic there.
  }
  removeOrphans(dirname(path), tmpPrefix)
}

/**
 * Temporary files that a killed process left mid-write would pile up beside the target: remove
 * those whose writer (the pid in the name) is gone. A live writer's file is never touched.
 */
function removeOrphans(dir: string, tmpPrefix: string): void {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(tmpPrefix)) continue
    const pid = Number(/^(\d+)-/.exec(name.slice(tmpPrefix.length))?.[1])
    if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue
    try {
      unlinkSync(join(dir, name))
    } catch {
      // Another process got there first.
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
