// The plugin's reports as prom-client metrics. Loaded by lib/metrics/metrics.ts only when the `metrics` option
// is set, with the prom-client module it loaded (this file imports none of it at run time).
//
// Cost per report: label children are bound once, here, never looked up per call; the per-frame
// counts (frames, bytes) are plain additions that the counters read when they are collected.
/* eslint no-new: "off" -- a prom-client metric registers itself in its `registers`: nothing else needs to hold it */

import type { Counter, Histogram, Registry } from 'prom-client'
import { DAGEvent, ResyncReason } from '../../schemas/events.js'
import type { ClientEventType, DAGEventType, Decision } from '../../schemas/events.js'
import { InvalidOptionError } from '../errors.js'
import {
  closeReasons,
  type CloseReason,
  refusalReasons,
  resyncRequiredReasons,
  type CommandOutcomeLabel,
  type Metrics,
  type MetricsSources,
  type PromClient,
  type RefusalReason
} from './metrics.js'
import type { MetricsRegistry } from '../options.js'
import { BroadcastLatency, GateWait } from './timings.js'

export interface PrometheusSettings {
  registry: MetricsRegistry
  route: string | false
  prefix: string
}

/** Seconds, from a broadcast in memory (tens of µs) to one through a loaded Redis (a second). */
const BROADCAST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
/** Seconds, from a check that needs no engine to an engine's handler that runs past `commandTimeoutMs`. */
const COMMAND_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Seconds a person takes: from a quick click to a day. */
const GATE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21_600, 86_400]

const literals = <Value extends string>(union: { anyOf: Array<{ const: Value }> }): Value[] => union.anyOf.map((literal) => literal.const)
const eventTypes = DAGEvent.anyOf.map((schema) => schema.properties.type.const) as DAGEventType[]
const decisions: Decision[] = ['approve', 'reject', 'modify']

export function createPrometheusMetrics (client: PromClient, settings: PrometheusSettings, sources: MetricsSources): Metrics {
  const registry = settings.registry as Registry
  const name = (suffix: string) => `${settings.prefix}${suffix}`
  const names = [
    'connections', 'rooms', 'broadcast_events_total', 'frames_sent_total', 'sent_bytes_total', 'resumes_total',
    'resyncs_total', 'closes_total', 'refused_upgrades_total', 'list_connections', 'list_closes_total', 'broadcast_latency_seconds', 'command_duration_seconds',
    'gate_wait_seconds'
  ].map(name)
  // Checked before any is created, so a clash leaves the registry as it was.
  const taken = names.find((each) => registry.getSingleMetric(each) !== undefined)
  if (taken !== undefined) {
    throw new InvalidOptionError(
      `"metrics": the registry already has a metric named ${taken}; give each fastify-dag-stream on one registry its own "prefix" or "registry"`
    )
  }
  const registers = [registry]

  // Read when Prometheus collects them: the gauges from the rooms, which hold the truth; the per-frame
  // and per-broadcast counts from plain numbers, so that counting costs an addition.
  let framesSent = 0
  let bytesSent = 0
  new client.Gauge({
    name: name('connections'),
    help: 'Open DAG streams (WebSockets) on this instance.',
    registers,
    collect () { this.set(sources.connections()) }
  })
  new client.Gauge({
    name: name('rooms'),
    help: 'DAGs with at least one open stream on this instance.',
    registers,
    collect () { this.set(sources.rooms()) }
  })
  new client.Gauge({
    name: name('list_connections'),
    help: 'Open live run lists (WebSockets on the list route) on this instance.',
    registers,
    collect () { this.set(sources.listConnections()) }
  })
  new client.Counter({
    name: name('frames_sent_total'),
    help: 'Frames written to streams on this instance: DAG events and control frames.',
    registers,
    collect () { resetTo(this, framesSent) }
  })
  new client.Counter({
    name: name('sent_bytes_total'),
    help: 'Bytes of the frames written to streams on this instance.',
    registers,
    collect () { resetTo(this, bytesSent) }
  })

  const broadcastsByType = Object.fromEntries(eventTypes.map((type) => [type, 0])) as Record<DAGEventType, number>
  new client.Counter({
    name: name('broadcast_events_total'),
    help: 'Events broadcast by this instance and numbered by the backplane, by event type.',
    labelNames: ['type'],
    registers,
    collect () {
      this.reset()
      for (const type of eventTypes) this.labels({ type }).inc(broadcastsByType[type])
    }
  })
  const resumes = new client.Counter({
    name: name('resumes_total'),
    help: 'Streams opened with `since` (a resume), by outcome: recovered (exactly the missed events), or not_recovered with the reason the client must resync.',
    labelNames: ['outcome', 'reason'],
    registers
  })
  const recovered = resumes.labels({ outcome: 'recovered' })
  recovered.inc(0)
  const notRecovered = byLabel(resumes, 'reason', literals(ResyncReason), { outcome: 'not_recovered' })
  const resyncs = byLabel(new client.Counter({
    name: name('resyncs_total'),
    help: 'resync_required frames sent to open streams, by reason.',
    labelNames: ['reason'],
    registers
  }), 'reason', resyncRequiredReasons)
  const closeReasonLabels = Object.values(closeReasons) as CloseReason[]
  const closesByReason = byLabel(new client.Counter({
    name: name('closes_total'),
    help: 'Streams the server closed, by reason (slow_consumer: 4000, rate_limited: 1008, heartbeat_timeout: a dead peer terminated, …).',
    labelNames: ['reason'],
    registers
  }), 'reason', closeReasonLabels)
  // Apart from closes_total, whose series stay those of the DAG streams: a run list is another kind of socket.
  const listClosesByReason = byLabel(new client.Counter({
    name: name('list_closes_total'),
    help: 'Live run lists the server closed, by reason (the reasons of closes_total).',
    labelNames: ['reason'],
    registers
  }), 'reason', closeReasonLabels)
  const refusals = byLabel(new client.Counter({
    name: name('refused_upgrades_total'),
    help: 'Stream upgrades refused before the WebSocket opened, by reason.',
    labelNames: ['reason'],
    registers
  }), 'reason', refusalReasons)

  const broadcastLatency = new client.Histogram({
    name: name('broadcast_latency_seconds'),
    help: 'From broadcast() on this instance to the hand-off of its event to the streams of this instance that watch its DAG.',
    buckets: BROADCAST_BUCKETS,
    registers
  })
  const commandDuration = new client.Histogram({
    name: name('command_duration_seconds'),
    help: 'Client events (human decisions, pause, resume, cancel) from arrival to answer, by type and outcome (accepted, an error code, or failed).',
    labelNames: ['type', 'outcome'],
    buckets: COMMAND_BUCKETS,
    registers
  })
  const gateWait = new client.Histogram({
    name: name('gate_wait_seconds'),
    help: 'From human_gate_waiting to human_gate_resolved for one node, both broadcast by this instance, by decision.',
    labelNames: ['decision'],
    buckets: GATE_BUCKETS,
    registers
  })
  for (const decision of decisions) gateWait.zero({ decision })
  const gateWaitByDecision = Object.fromEntries(decisions.map((decision) => [decision, gateWait.labels({ decision })])) as Record<Decision, Histogram.Internal<'decision'>>
  // type × outcome would be 4 × 16 series at once: each is bound when first seen (commands are rare).
  const commandChildren = new Map<string, Histogram.Internal<'type' | 'outcome'>>()
  const commandChild = (type: ClientEventType, outcome: CommandOutcomeLabel) => {
    const key = `${type} ${outcome}`
    let child = commandChildren.get(key)
    if (child === undefined) commandChildren.set(key, (child = commandDuration.labels({ type, outcome })))
    return child
  }

  // What close() removes: these metrics, not whatever took their names after an earlier close.
  const ours = names.map((each) => registry.getSingleMetric(each))

  const latency = new BroadcastLatency((seconds) => broadcastLatency.observe(seconds), (dagId) => sources.connections(dagId) > 0)
  const gates = new GateWait((seconds, resolved) => gateWaitByDecision[resolved.decision].observe(seconds))

  return {
    frameSent (bytes) {
      framesSent += 1
      bytesSent += bytes
    },
    streamClosed (code) {
      closesByReason[closeReasons[code]].inc()
    },
    listClosed (code) {
      listClosesByReason[closeReasons[code]].inc()
    },
    resyncSent (reason) {
      resyncs[reason].inc()
    },
    resumed (replay) {
      if (replay.recovered) recovered.inc()
      else if (replay.reason !== undefined) notRecovered[replay.reason].inc()
    },
    upgradeRefused (reason: RefusalReason) {
      refusals[reason].inc()
    },
    broadcastStarting: (dagId) => latency.started(dagId),
    broadcast (dagId, event, sequenced, startedAt) {
      broadcastsByType[event.type] += 1
      latency.numbered(dagId, sequenced, startedAt)
      gates.broadcast(dagId, event, startedAt)
    },
    broadcastFailed: (dagId) => latency.failed(dagId),
    delivered: (dagId, entry) => latency.delivered(dagId, entry),
    roomClosed: (dagId) => latency.roomClosed(dagId),
    async command (type, run) {
      const startedAt = performance.now()
      let outcome: CommandOutcomeLabel = 'failed'
      try {
        const reply = await run()
        outcome = reply?.type === 'error' ? reply.code : 'accepted'
        return reply
      } finally {
        commandChild(type, outcome).observe((performance.now() - startedAt) / 1000)
      }
    },
    scrapeRoute: settings.route === false ? undefined : { path: settings.route, registry: settings.registry },
    close () {
      names.forEach((each, index) => {
        if (registry.getSingleMetric(each) === ours[index]) registry.removeSingleMetric(each)
      })
    }
  }
}

/** One child per label value, bound and set to 0 now, so every series exists from the first scrape. */
function byLabel<Value extends string> (
  counter: Counter<string>,
  label: string,
  values: readonly Value[],
  fixed: Record<string, string> = {}
): Record<Value, Counter.Internal> {
  const children = {} as Record<Value, Counter.Internal>
  for (const value of values) {
    const child = counter.labels({ ...fixed, [label]: value })
    child.inc(0)
    children[value] = child
  }
  return children
}

/** A counter that mirrors a running total kept outside prom-client. */
function resetTo (counter: Counter, total: number): void {
  counter.reset()
  counter.inc(total)
}
