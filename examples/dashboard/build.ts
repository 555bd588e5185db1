// Builds the dashboard with Vite when its output is missing or older than any of its sources, so
// `npm start` on a fresh clone (or after an edit) serves what the code says, and a second start is instant.

import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const dashboardDir = dirname(fileURLToPath(import.meta.url))
export const distDir = join(dashboardDir, 'dist')

const repoRoot = resolve(dashboardDir, '../..')
// Everything the bundle is made of: the app, and the library code it imports.
const SOURCES = [join(dashboardDir, 'src'), join(dashboardDir, 'index.html'), join(dashboardDir, 'vite.config.ts'), join(repoRoot, 'lib'), join(repoRoot, 'schemas')]

export async function ensureDashboardBuilt ({ force = false, onBuild }: { force?: boolean; onBuild?: () => void } = {}): Promise<'built' | 'up to date'> {
  const index = join(distDir, 'index.html')
  if (!force && existsSync(index) && statSync(index).mtimeMs >= newestSource()) return 'up to date'
  onBuild?.()
  // Loaded only when needed: Vite is a dev dependency and takes a moment to import.
  const { build } = await import('vite')
  // Two servers started together (two instances on one Redis) may both build. Each builds aside and
  // swaps its bundle in, so neither serves a half-written one; if the other swapped first, ours goes.
  const staging = join(repoRoot, 'node_modules', '.cache', 'dashboard-build', String(process.pid))
  await build({ root: dashboardDir, configFile: join(dashboardDir, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staging } })
  rmSync(distDir, { recursive: true, force: true })
  try {
    renameSync(staging, distDir)
  } catch (error) {
    rmSync(staging, { recursive: true, force: true })
    if (!existsSync(index)) throw error
  }
  return 'built'
}

function newestSource (): number {
  return Math.max(...SOURCES.filter((path) => existsSync(path)).map(newestIn))
}

function newestIn (path: string): number {
  const stats = statSync(path)
  if (!stats.isDirectory()) return stats.mtimeMs
  return Math.max(stats.mtimeMs, ...readdirSync(path).map((entry) => newestIn(join(path, entry))))
}
