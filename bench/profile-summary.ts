// The top self-time functions of V8 CPU profiles (.cpuprofile, as `--cpu-prof` writes them), as a
// Markdown table to quote in a note:
//
//   node --import tsx bench/profile-summary.ts bench/profiles/<time>/1dag-max-plugin-run1
//   node --import tsx bench/profile-summary.ts --top 20 a.cpuprofile b.cpuprofile
//
// A folder stands for every main-thread profile under it, summed: tsx runs its loader in a worker
// thread that writes a profile of its own, which is not the server's work. Where bench/run.ts left
// the measured window beside a profile (window.json), only the samples inside it count: the rest is
// the process starting, clients connecting and the run winding down.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { PROFILE_WINDOW_FILE } from './processes.js'
import { fixed, ms, printTable } from './stats.js'

const USAGE = `Usage: node --import tsx bench/profile-summary.ts [--top N] PATH...

PATH is a .cpuprofile file, or a folder: every main-thread profile below it, summed.
Prints the N functions (default 10) with the most self time, idle time left out.`

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>
  /** µs on the monotonic clock (process.hrtime's). */
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

const REPO = fileURLToPath(new URL('..', import.meta.url))

/** `--cpu-prof` names files CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile; thread 0 is the main one. */
function isMainThread (file: string): boolean {
  return basename(file).split('.')[4] === '0'
}

function profilesIn (path: string): string[] {
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.cpuprofile') && isMainThread(name))
    .map((name) => join(path, name))
    .sort()
}

/** "function file:line", the file relative to the repository (or the package under node_modules). */
function label ({ functionName, url, lineNumber }: CpuProfile['nodes'][number]['callFrame']): string {
  const name = functionName === '' ? '(anonymous)' : functionName
  if (url === '') return name
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const shown = path.startsWith(REPO) ? relative(REPO, path) : path
  // Line numbers are 0-based; tsx's transpiled files report 0 throughout, where the file says enough.
  return `${name} ${shown}${lineNumber > 0 ? `:${lineNumber + 1}` : ''}`
}

/** The measured window saved beside `file`, in µs, or the whole profile. */
function windowOf (file: string): { fromUs: number; toUs: number } {
  const path = join(dirname(file), PROFILE_WINDOW_FILE)
  if (!existsSync(path)) return { fromUs: Number.NEGATIVE_INFINITY, toUs: Number.POSITIVE_INFINITY }
  return JSON.parse(readFileSync(path, 'utf8')) as { fromUs: number; toUs: number }
}

/** Adds each function's self time (ms) within the window to `self`; returns the busy ms counted. */
function accumulate (profile: CpuProfile, window: { fromUs: number; toUs: number }, self: Map<string, number>): number {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  let busy = 0
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0
    // A sample's time is the delta to the next one: what ran from this sample on.
    const deltaMs = (profile.timeDeltas[i + 1] ?? 0) / 1000
    const frame = frames.get(id)
    if (at < window.fromUs || at > window.toUs || frame === undefined || frame.functionName === '(idle)') return
    const key = label(frame)
    self.set(key, (self.get(key) ?? 0) + deltaMs)
    busy += deltaMs
  })
  return busy
}

function main (): void {
  let parsed
  try {
    parsed = parseArgs({ options: { top: { type: 'string', default: '10' }, help: { type: 'boolean', short: 'h', default: false } }, allowPositionals: true })
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  const { values, positionals } = parsed
  if (values.help) {
    console.log(USAGE)
    return
  }
  const top = Number(values.top)
  if (!Number.isInteger(top) || top <= 0 || positionals.length === 0) {
    console.error(`${positionals.length === 0 ? 'Name at least one profile or folder.' : `--top must be a positive whole number, got ${values.top}`}\n\n${USAGE}`)
    process.exit(2)
  }
  const files = positionals.flatMap(profilesIn)
  if (files.length === 0) {
    console.error(`No main-thread .cpuprofile under ${positionals.join(', ')}`)
    process.exit(1)
  }
  const self = new Map<string, number>()
  let busy = 0
  let windowed = 0
  for (const file of files) {
    const window = windowOf(file)
    if (Number.isFinite(window.fromUs)) windowed++
    busy += accumulate(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, window, self)
  }
  const scope = windowed === files.length ? 'the measured window only' : windowed === 0 ? 'whole processes, startup included' : `${windowed} of them the measured window only`
  console.log(`${files.length} profile(s) (${scope}), ${ms(busy)} busy (idle left out); top ${top} by self time:\n`)
  printTable(
    ['>#', 'function (file:line)', '>self', '>% of busy'],
    [...self].sort(([, a], [, b]) => b - a).slice(0, top).map(([name, value], i) => [String(i + 1), name.replaceAll('|', '\\|'), ms(value), `${fixed((100 * value) / busy, 1)}%`])
  )
}

main()
