/**
 * Checkpoint files: a JSON header and raw little-endian arrays, with a SHA-256 over everything,
 * written atomically (temporary file, fsync, rename, fsync of the folder) so that a crash mid-write
 * never destroys the previous checkpoint.
 * @module
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

import { writeFileAtomic } from '../atomic-file'
import { jarzynError } from '../errors'

const MAGIC = 'JARZYNCK'
const VERSION = 1

/** Arrays a checkpoint can hold. */
export type CheckpointArray = Float32Array | Float64Array | Uint32Array

interface BlobEntry {
  name: string
  dtype: 'f32' | 'f64' | 'u32'
  offset: number
  length: number
}

function dtypeOf(a: CheckpointArray): BlobEntry['dtype'] {
  if (a instanceof Float32Array) return 'f32'
  if (a instanceof Float64Array) return 'f64'
  return 'u32'
}

/** Write `meta` (JSON-serialisable) and named arrays to `path` atomically. */
export function writeCheckpoint(path: string, meta: unknown, arrays: Record<string, CheckpointArray>): void {
  const entries: BlobEntry[] = []
  let offset = 0
  for (const [name, a] of Object.entries(arrays)) {
    entries.push({ name, dtype: dtypeOf(a), offset, length: a.length })
    offset += a.byteLength
    offset = Math.ceil(offset / 8) * 8
  }
  const payload = Buffer.alloc(offset)
  for (const e of entries) {
    const a = arrays[e.name]
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(payload, e.offset)
  }
  const header = Buffer.from(JSON.stringify({ meta, blobs: entries, payloadBytes: offset }), 'utf8')
  const head = Buffer.alloc(16)
  head.write(MAGIC, 0, 'latin1')
  head.writeUInt32LE(VERSION, 8)
  head.writeUInt32LE(header.length, 12)
  const digest = createHash('sha256').update(head).update(header).update(payload).digest()
  writeFileAtomic(path, [head, header, payload, digest])
}

/** Read a checkpoint written by {@link writeCheckpoint}; refuses corrupt or foreign files. */
export function readCheckpoint(path: string): { meta: unknown; arrays: Record<string, CheckpointArray> } {
  const bad = (why: string) => jarzynError(Error, 'ERR_JARZYN_BAD_CHECKPOINT', `${path}: ${why}`)
  let buf: Buffer
  try {
    buf = readFileSync(path)
  } catch (e) {
    throw bad(`cannot read (${(e as Error).message})`)
  }
  if (buf.length < 16 + 32 || buf.toString('latin1', 0, 8) !== MAGIC) throw bad('not a jarzyn checkpoint')
  const version = buf.readUInt32LE(8)
  if (version !== VERSION) throw bad(`checkpoint format version ${version}, this jarzyn reads ${VERSION}`)
  const digest = createHash('sha256').update(buf.subarray(0, buf.length - 32)).digest()
  if (!digest.equals(buf.subarray(buf.length - 32))) throw bad('checksum mismatch: the file is corrupt or truncated')
  const hlen = buf.readUInt32LE(12)
  let header: { meta: unknown; blobs: BlobEntry[]; payloadBytes: number }
  try {
    header = JSON.parse(buf.toString('utf8', 16, 16 + hlen))
  } catch {
    throw bad('unreadable header')
  }
  const base = 16 + hlen
  if (base + header.payloadBytes + 32 !== buf.length) throw bad('size does not match its header')
  const arrays: Record<string, CheckpointArray> = {}
  for (const e of header.blobs) {
    const Ctor = e.dtype === 'f32' ? Float32Array : e.dtype === 'f64' ? Float64Array : Uint32Array
    const bytes = e.length * Ctor.BYTES_PER_ELEMENT
    // Copy into an aligned buffer of its own.
    const copy = new Uint8Array(bytes)
    copy.set(buf.subarray(base + e.offset, base + e.offset + bytes))
    arrays[e.name] = new Ctor(copy.buffer)
  }
  return { meta: header.meta, arrays }
}
