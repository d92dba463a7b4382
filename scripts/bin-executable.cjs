// Marks the package's bin scripts executable after tsc (which writes them 0644). npm's bin links
// chmod their target only when it links; a target rebuilt later (a fresh `npm run build`, or an
// npx cache entry made for this folder by an earlier checkout) would otherwise fail with
// "Permission denied". A no-op on Windows, where there are no execute bits.
const { chmodSync, statSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const { bin } = require(join(root, 'package.json'))
for (const rel of typeof bin === 'string' ? [bin] : Object.values(bin)) {
  const file = join(root, rel)
  chmodSync(file, statSync(file).mode | 0o111)
}
