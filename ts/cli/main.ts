#!/usr/bin/env node
/**
 * The `jarzyn` bin. Its built path, dist/cli/main.js, must not move: npx keeps, per project
 * folder, the bin links it made the first time (it never refreshes them), so a returning user whose
 * earlier checkout had the bin here would get "jarzyn: not found" after a move. The command line
 * itself lives with the experiments (ts/experiments/cli/main.ts).
 * @module
 */
import { runCli } from '../experiments/cli/main'

runCli()
