// Source names for the frames of a Chromium CPU profile of the dashboard: the bundle is minified, its
// source maps (the build writes them) say where each frame came from. bench/dashboard.ts does this
// to the profiles it records; for one recorded with another build (a "before" profile), point --dist
// at that build's output:
//
//   node --import tsx bench/dashboard-profile.ts PROFILE.cpuprofile [--dist examples/dashboard/dist]
//
// The file is rewritten in place; then `node --import tsx bench/profile-summary.ts PROFILE.cpuprofile`.

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { SourceMapConsumer } from 'source-map-js'
import { distDir } from '../examples/dashboard/build.js'

interface CpuProfile {
  nodes: Array<{ callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }>
}

/**
 * Names the bundle's minified frames after the source they came from (the build writes source maps):
 * `render (src/Graph.tsx:97)` instead of `aM index-….js:11`. (source-map-js comes with Vite.)
 */
export function symbolize (profile: CpuProfile, dist: string): void {
  const maps = new Map<string, SourceMapConsumer | undefined>()
  for (const { callFrame } of profile.nodes) {
    const file = /\/assets\/([^/?#]+\.js)$/.exec(callFrame.url)?.[1]
    if (file === undefined) continue
    if (!maps.has(file)) {
      const mapFile = join(dist, 'assets', `${file}.map`)
      maps.set(file, existsSync(mapFile) ? new SourceMapConsumer(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined)
    }
    const map = maps.get(file)
    if (map === undefined) continue
    const original = map.originalPositionFor({ line: callFrame.lineNumber + 1, column: callFrame.columnNumber })
    if (original.source === null) continue
    const source = original.source.replace(/^(\.\.\/)+/, '').replace(/^.*node_modules\//, '')
    callFrame.functionName = `${original.name ?? (callFrame.functionName || '(anonymous)')} (${source}:${original.line})`
    callFrame.url = ''
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { dist: { type: 'string' } } })
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
    symbolize(profile, values.dist ?? distDir)
    writeFileSync(file, JSON.stringify(profile))
    console.log(`${file}: frames named from the source maps in ${values.dist ?? distDir}`)
  }
}
