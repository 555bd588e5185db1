// The figures the bench scripts compute and print: latency histograms that merge exactly across
// processes, percentiles, medians over runs, and Markdown tables that paste into bench/README.md.

import { BUCKETS_PER_MS } from './redis-ipc.js'

/** Latencies as counts per 10 µs bucket (bucket = round(ms × BUCKETS_PER_MS)): small, and exact to merge. */
export type Histogram = Map<number, number>

export function record (histogram: Histogram, ms: number): void {
  const bucket = Math.round(ms * BUCKETS_PER_MS)
  histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1)
}

/** The `fraction` percentile of a histogram in ms (nearest rank), or undefined when it is empty. */
export function histogramPercentile (histogram: Iterable<[number, number]>, fraction: number): number | undefined {
  const buckets = [...histogram].sort(([a], [b]) => a - b)
  const total = buckets.reduce((sum, [, count]) => sum + count, 0)
  if (total === 0) return undefined
  const rank = Math.max(1, Math.ceil(fraction * total))
  let seen = 0
  for (const [bucket, count] of buckets) {
    seen += count
    if (seen >= rank) return bucket / BUCKETS_PER_MS
  }
  return undefined // unreachable: the last bucket brings `seen` to `total`
}

/** The `fraction` percentile of plain samples (nearest rank). */
export function percentile (values: number[], fraction: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] as number
}

/** The median; of an even count, the mean of the middle two (so 2 runs give their mean). */
export function median (values: number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

// ---------------------------------------------------------------------------------------------
// Formatting: NaN stands for "not measured here" and prints as a dash
// ---------------------------------------------------------------------------------------------

export const DASH = '–'

export function int (n: number): string {
  return Number.isNaN(n) ? DASH : Math.round(n).toLocaleString('en')
}

export function ms (n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return DASH
  return n < 10 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${int(n)} ms`
}

export function bytes (n: number): string {
  if (Number.isNaN(n)) return DASH
  const abs = Math.abs(n)
  return abs < 1024 ? `${int(n)} B` : abs < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(abs < 10 * 1024 * 1024 ? 2 : 1)} MiB`
}

export function fixed (n: number, digits: number): string {
  return Number.isNaN(n) ? DASH : n.toFixed(digits)
}

/** Prints a Markdown table; a header starting with '>' makes its column right-aligned. */
export function printTable (headers: string[], rows: string[][]): void {
  console.log(`| ${headers.map((header) => header.replace(/^>/, '')).join(' | ')} |`)
  console.log(`|${headers.map((header) => (header.startsWith('>') ? '---:' : '---')).join('|')}|`)
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
  console.log()
}
