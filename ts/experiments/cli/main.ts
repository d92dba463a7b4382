/**
 * The `jarzyn` command.
 * @module
 */
import { isJarzynError } from '../../errors'
import { defaultThreads } from '../../threads'
import { gmmCommand } from '../gmm/command'
import { mnistCommand } from '../mnist/command'
import { UsageError } from './usage'

const HELP = `Usage: jarzyn <command> [options]

Commands:
  gmm     the Gaussian-mixture experiment of Carbone et al. (2023): Jarzynski vs PCD vs CD
  mnist   the image experiment: digits 2, 3, 6 of MNIST in 4:2:1, Jarzynski vs PCD (vs CD)

Run 'jarzyn <command> --help' for a command's options.
`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'gmm':
        return await gmmCommand(rest, defaultThreads())
      case 'mnist':
        return await mnistCommand(rest, defaultThreads())
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP)
        return command === undefined ? 2 : 0
      default:
        throw new UsageError(`unknown command '${command}' (commands: gmm, mnist)`)
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`jarzyn: ${e.message}\n`)
      return 2
    }
    if (isJarzynError(e)) {
      process.stderr.write(`jarzyn: ${e.message} [${e.code}]\n`)
      return 1
    }
    throw e
  }
}

/** Run the command line of this process and set its exit code (the `jarzyn` bin, ts/cli/main.ts). */
export function runCli(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (e) => {
      process.stderr.write(`jarzyn: unexpected error: ${(e as Error)?.stack ?? e}\n`)
      process.exitCode = 1
    },
  )
}
