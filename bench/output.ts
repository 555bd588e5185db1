// `npm run bench:output`: live node output under load. 20 nodes of one DAG generate 200 tokens/s each
// (an LLM's pace) while 100 dashboards watch; the server and the dashboards run in separate processes.
// Run twice: through `streamOutput` (one node_output_delta per node per `outputFlushMs`), and with one
// event per token, as an engine would without it. Reported: events appended to the log per second,
// frames and bytes per second to the dashboards, and the server's CPU. Exits 1 unless every dashboard
// received every character, in both runs.

import { parseOptions } from './options.js'
import type { OutputClientCommands } from './output-clients.js'
import type { OutputMode, OutputServerCommands } from './output-server.js'
import { checkOpenFiles, guard, waitUntil } from './processes.js'
import { Child } from './redis-ipc.js'
import { bytes, fixed, int, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:output -- [options]

Options (full / --quick):
  --nodes N        nodes generating at once (20)
  --rate N         tokens per second per node (200)
  --clients N      dashboards watching the DAG (100)
  --seconds N      how long the nodes generate, per run (10 / 3)
  --flush MS       the plugin's outputFlushMs (50)
  --deadline S     give up (exit 1) after this long (300 / 120)
  --quick          a smoke run of a few seconds
  -h, --help       this text`

function options () {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      nodes: { full: 20, quick: 20 },
      rate: { full: 200, quick: 200 },
      clients: { full: 100, quick: 100 },
      seconds: { full: 10, quick: 3 },
      flush: { full: 50, quick: 50 },
      deadline: { full: 300, quick: 120 }
    }
  })
  return numbers
}

async function main (): Promise<number> {
  const settings = options()
  guard(settings.deadline)
  checkOpenFiles(settings.clients)
  const server = await Child.start<OutputServerCommands>('server', new URL('./output-server.ts', import.meta.url))
  const clients = await Child.start<OutputClientCommands>('dashboards', new URL('./output-clients.ts', import.meta.url))
  const rows: string[][] = []
  let complete = true
  try {
    const { port } = await server.call('start', { outputFlushMs: settings.flush })
    for (const mode of ['every-token', 'coalesced'] as OutputMode[]) {
      const dagId = `output-${mode}`
      await clients.call('connect', { port, dagId, clients: settings.clients })
      const report = await server.call('generate', { dagId, nodes: settings.nodes, tokensPerSecond: settings.rate, seconds: settings.seconds, mode }, (settings.seconds + 60) * 1000)
      try {
        await waitUntil(async () => (await clients.call('stats', undefined)).fewestCharacters >= report.characters, 60_000, 'every dashboard had every character')
      } catch (error) {
        console.error(`${mode}: ${(error as Error).message}`)
        complete = false
      }
      const received = await clients.call('stats', undefined)
      await clients.call('close', undefined)
      const seconds = report.elapsedMs / 1000
      rows.push([
        mode === 'coalesced' ? `streamOutput (${settings.flush} ms)` : 'one event per token',
        int(report.tokens / seconds),
        int(report.events / seconds),
        int(received.frames / seconds),
        `${bytes(received.bytes / seconds)}/s`,
        `${fixed((report.cpuMs / report.elapsedMs) * 100, 0)} %`,
        int(report.events)
      ])
    }
  } finally {
    await Promise.all([server.stop(), clients.stop()])
  }
  console.log(`\n${settings.nodes} nodes × ${settings.rate} tokens/s, ${settings.clients} dashboards, ${settings.seconds} s per run\n`)
  printTable(['engine writes', 'tokens/s', 'log events/s', 'frames/s to dashboards', 'bytes/s to dashboards', 'server CPU', 'log events'], rows)
  return complete ? 0 : 1
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(error)
  process.exit(1)
})
