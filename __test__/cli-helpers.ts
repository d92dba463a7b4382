/** Running the `jarzyn` command as npm links it (`dist/cli/main.js`; build first). */
import { spawn } from 'node:child_process'
import { join } from 'node:path'

/** The bin script. */
export const MAIN = join(__dirname, '..', 'dist', 'cli', 'main.js')

/** What a finished command left. */
export interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** `jarzyn ARGS` to completion, its output collected. */
export function jarzyn(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
