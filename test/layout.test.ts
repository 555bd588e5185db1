// The layout is the architecture: which folder of lib/ may import which. The browser-side folders
// (shared/, client/, react/) must never reach Node-only code, or a dashboard's bundle would pull in
// fastify, ws or Node's built-ins; the backplanes see only what their contract needs.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/** What a module under each folder may import, besides its own folder; the first matching prefix rules. */
const RULES: Array<{ folder: string, mayImport: string[], bare: 'none' | 'types-only' | 'any' }> = [
  { folder: 'lib/shared/', mayImport: ['schemas/'], bare: 'types-only' },
  { folder: 'lib/client/', mayImport: ['lib/shared/', 'schemas/'], bare: 'types-only' },
  { folder: 'lib/react/', mayImport: ['lib/client/', 'lib/shared/', 'schemas/'], bare: 'any' },
  {
    folder: 'lib/backplane/',
    // A backplane stores what the rest of the plugin asks it to: it knows the protocol, the gate rules
    // (pure transitions) and the shared frame builder, and nothing of sockets, routes or access.
    mayImport: ['lib/backplane/', 'lib/shared/', 'schemas/', 'lib/errors.ts', 'lib/commands/gates.ts', 'lib/stream/frames.ts'],
    bare: 'any'
  },
  { folder: 'schemas/', mayImport: ['schemas/'], bare: 'any' },
  // The server side may use anything but the browser client and the hook.
  { folder: 'lib/', mayImport: ['lib/', 'schemas/'], bare: 'any' }
]
const BROWSER_ONLY = ['lib/client/', 'lib/react/']

function sourcesUnder (dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
}

/** Each import or re-export of a module: its specifier and whether it brings types only. */
function importsOf (file: string): Array<{ specifier: string, typeOnly: boolean }> {
  const source = readFileSync(join(ROOT, file), 'utf8')
  return [...source.matchAll(/^(import|export)( type)?\b[^'"]*?from '([^']+)'/gm)].map((match) => ({
    specifier: match[3] as string,
    typeOnly: match[2] !== undefined
  }))
}

t.test('every module of lib/ and schemas/ imports only what its folder may', async (t) => {
  const files = [...sourcesUnder('lib'), ...sourcesUnder('schemas')]
  t.ok(files.length > 50, `found ${files.length} modules`)
  const breaches: string[] = []
  for (const file of files) {
    const rule = RULES.find((candidate) => file.startsWith(candidate.folder))
    if (rule === undefined) throw new Error(`no layout rule for ${file}`)
    for (const { specifier, typeOnly } of importsOf(file)) {
      if (!specifier.startsWith('.')) {
        const allowed = rule.bare === 'any' || (rule.bare === 'types-only' && typeOnly)
        if (!allowed) breaches.push(`${file} imports the package ${specifier}; ${rule.folder} may import packages for types only`)
        continue
      }
      const target = relative(ROOT, join(dirname(join(ROOT, file)), specifier)).replace(/\.js$/, '.ts')
      const ownFolder = target.startsWith(rule.folder)
      const permitted = rule.mayImport.some((prefix) => target === prefix || target.startsWith(prefix))
      const reachesBrowser = !file.startsWith('lib/react/') && !file.startsWith('lib/client/') &&
        BROWSER_ONLY.some((prefix) => target.startsWith(prefix))
      if (!(ownFolder || permitted) || reachesBrowser) breaches.push(`${file} imports ${target}; ${rule.folder} may import ${rule.mayImport.join(', ')}`)
    }
  }
  t.same(breaches, [])
})

t.test('lib/ keeps about a dozen modules at its top level', async (t) => {
  const top = readdirSync(join(ROOT, 'lib'), { withFileTypes: true }).filter((entry) => entry.isFile())
  t.ok(top.length <= 12, top.map((entry) => entry.name).join(', '))
})
