// The documentation's relative links, kept pointing somewhere: every `[text](path)` and `[text](path#anchor)` in
// README.md, docs/, bench/README.md and the lib/ folders' READMEs must name a file that exists and, with an
// anchor, a heading of that file. Files move (lib/ and test/ were just regrouped); a link that silently 404s on
// GitHub is how documentation rots. Links with a scheme (https:, mailto:) are not checked: no network in tests.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** GitHub's heading anchor: lowercase, punctuation dropped except `-` and `_`, each space a `-`. */
export function githubSlug (heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading anchors on its text
    .replace(/`/g, '')
  return text.toLowerCase().replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-')
}

/** The lines of `markdown` outside fenced code blocks, whose links and headings are not links and headings. */
function proseLines (markdown: string): string[] {
  const lines: string[] = []
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker !== undefined && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined
      continue
    }
    if (fence === undefined) lines.push(line)
  }
  return lines
}

/** Every heading's anchor, with GitHub's `-1`, `-2` … for repeated ones. */
export function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const slug = githubSlug(heading)
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    result.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return result
}

/** The targets of inline links and images, and of reference definitions, outside code. */
export function linkTargets (markdown: string): string[] {
  const targets: string[] = []
  for (const line of proseLines(markdown)) {
    const prose = line.replace(/(`+)(?:(?!\1).)+\1/g, '') // inline code spans are text
    for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(match[1] as string)
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose)
    if (definition) targets.push(definition[1] as string)
  }
  return targets
}

/** What is wrong with each relative link of the Markdown file at `file`: a missing file or heading (paths shown from `base`). */
export function brokenLinks (file: string, base = root): string[] {
  const read = (path: string): string => readFileSync(path, 'utf8')
  const problems: string[] = []
  for (const target of linkTargets(read(file))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue // https:, mailto:: not ours to check
    const hash = target.indexOf('#')
    const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash))
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1))
    const resolved = path === '' ? file : resolve(dirname(file), path)
    if (!existsSync(resolved)) {
      problems.push(`${target}: no file ${relative(base, resolved)}`)
      continue
    }
    if (anchor === undefined) continue
    if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
      problems.push(`${target}: an anchor into ${relative(base, resolved)}, which has no Markdown headings`)
    } else if (!anchors(read(resolved)).has(anchor)) {
      problems.push(`${target}: no heading "#${anchor}" in ${relative(base, resolved)}`)
    }
  }
  return problems
}

function markdownFiles (directory: string): string[] {
  if (!existsSync(directory)) return []
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) return markdownFiles(path)
    return entry.name.endsWith('.md') ? [path] : []
  })
}

const documents = [
  join(root, 'README.md'),
  join(root, 'bench', 'README.md'),
  ...markdownFiles(join(root, 'docs')),
  ...markdownFiles(join(root, 'lib'))
].filter((path) => existsSync(path))

t.test('GitHub slugs', async (t) => {
  t.equal(githubSlug('Scaling out with Redis'), 'scaling-out-with-redis')
  t.equal(githubSlug('Server-Sent Events (where proxies break WebSockets)'), 'server-sent-events-where-proxies-break-websockets')
  t.equal(githubSlug('The `metrics` option'), 'the-metrics-option')
  t.equal(githubSlug('dag_stream_connections: what, why?'), 'dag_stream_connections-what-why')
  t.equal(githubSlug('Quick start — in [this](x.md) repo'), 'quick-start--in-this-repo', 'a dash stays, its spaces each become one')
  t.same([...anchors('# A\n## A\n```\n# not a heading\n```\n### A ###\n')], ['a', 'a-1', 'a-2'])
})

t.test('links in code are not links', async (t) => {
  t.same(linkTargets('[a](x.md) `[b](y.md)`\n```md\n[c](z.md)\n```\n[d]: w.md#h\n![e](img.png "title")'), ['x.md', 'w.md#h', 'img.png'])
})

t.test('a broken link is reported: a missing file, a missing heading, an anchor into a file without headings', async (t) => {
  const base = t.testdir({
    'README.md': '# Title\n\n## Close codes\n',
    lib: { 'index.ts': '' },
    docs: {
      'fixture.md': [
        '# Fixture', '[fine](#fixture) [fine too](../README.md#close-codes) [web](https://example.com/x.md#nowhere)',
        '[folder](../lib/) [file](../lib/index.ts)',
        '[gone](gone.md) [no heading](#nowhere) [no heading there](../README.md#nowhere) [folder](../lib#x)'
      ].join('\n')
    }
  })
  t.same(brokenLinks(join(base, 'docs', 'fixture.md'), base), [
    'gone.md: no file docs/gone.md',
    '#nowhere: no heading "#nowhere" in docs/fixture.md',
    '../README.md#nowhere: no heading "#nowhere" in README.md',
    '../lib#x: an anchor into lib, which has no Markdown headings'
  ])
})

t.test('every relative link of the documentation reaches its file and heading', async (t) => {
  t.ok(documents.length >= 2, 'README.md and docs/ are checked')
  for (const document of documents) {
    t.same(brokenLinks(document), [], relative(root, document))
  }
})
