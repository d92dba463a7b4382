// The fenced code blocks of README.md, for the checks that run them.

/**
 * Every fenced block: `{ lang, code, line, section }`, where `line` is the 1-based line of the
 * opening fence and `section` the heading (## or ###) it stands under.
 */
export function readmeBlocks(readme) {
  const lines = readme.split('\n')
  const blocks = []
  let section = ''
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{2,3} (.*)$/.exec(lines[i])
    if (h) section = h[1].trim()
    const open = /^```(\w*)\s*$/.exec(lines[i])
    if (!open) continue
    const start = i
    const body = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i])
    blocks.push({ lang: open[1], code: body.join('\n'), line: start + 1, section })
  }
  return blocks
}

/** The shell commands of the "Set up" section, in order (one per block). */
export function setupCommands(readme) {
  return readmeBlocks(readme)
    .filter((b) => b.lang === 'sh' && b.section.startsWith('Set up'))
    .map((b) => b.code.trim())
}
