// `npm run bench:presence-joins`: what a join storm costs the Redis store and this process before every
// socket has its presence picture. N sockets join one DAG on one instance within one flush interval,
// while N viewers of another instance are already in the hash; the script counts the HGETALLs Redis
// served (INFO commandstats, on a redis-server of its own) and times the joins. It drives lib/stream/presence.ts
// directly, without sockets: what is measured is the presence work alone, so a 2-core machine under
// load still shows its order (time for N joins grows with N, not N²) if not its exact figures.

import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { RedisPresence } from '../lib/backplane/redis/presence.js'
import { Presence, type PresenceMember } from '../lib/stream/presence.js'
import type { PresenceViewer } from '../schemas/index.js'
import { parseOptions } from './options.js'
import { guard } from './processes.js'
import { startOwnRedis } from './own-redis.js'
import { cpuMs, killChildren, now } from './redis-ipc.js'
import { bytes, int, ms, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:presence-joins -- [options]

Options (full / --quick):
  --joins N        sockets that join, and viewers already on another instance (5000 / 500)
  --deadline S     give up (exit 1) after this long (120 / 30)
  --quick          a smoke run of a few seconds
  -h, --help       this text`

/** Longer than the run: every join stays pending, as in a storm that fits one interval. */
const FLUSH_MS = 600_000

function options () {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      joins: { full: 5000, quick: 500 },
      deadline: { full: 120, quick: 30 }
    }
  })
  return { joins: numbers.joins, deadlineS: numbers.deadline }
}

function viewers (count: number, prefix: string): PresenceViewer[] {
  return Array.from({ length: count }, (_, index) => ({ id: `${prefix}-${index}`, identity: { id: `${prefix}-user-${index}`, name: `User ${index}` }, gate: null }))
}

async function main (): Promise<void> {
  const settings = options()
  guard(settings.deadlineS)
  const url = await startOwnRedis()
  const admin = new Redis(url)
  const log = { warn: console.warn, error: console.error } as unknown as FastifyBaseLogger
  const instance = (instanceId: string) => {
    const subscriber = new Redis(url)
    const store = new RedisPresence({ commands: admin, subscriber, keyPrefix: 'bench', instanceId, ttlMs: 60_000, log })
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => store.receive(channel.toString(), message))
    return { store, subscriber }
  }
  const here = instance('here')
  const elsewhere = instance('elsewhere')
  await Promise.all([here.store.start(), elsewhere.store.start()])
  await elsewhere.store.update('storm', { upserted: viewers(settings.joins, 'elsewhere'), removed: [] })
  await admin.config('RESETSTAT')

  const presence = new Presence({ store: here.store, flushMs: FLUSH_MS, log })
  let pictureBytes = 0
  const joining = viewers(settings.joins, 'here').map((viewer) => {
    const member: PresenceMember = {
      id: viewer.id,
      dagId: 'storm',
      log,
      sendPresence: (frame) => {
        pictureBytes += frame.length
      }
    }
    return { member, identity: viewer.identity }
  })
  const began = now()
  const cpuBefore = cpuMs()
  await Promise.all(joining.map(({ member, identity }) => presence.join(member, identity)))
  const elapsed = now() - began
  const cpu = cpuMs() - cpuBefore
  const reads = Number(/cmdstat_hgetall:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)

  for (const { member } of joining) presence.leave(member)
  await presence.close()
  await Promise.all([here.store.close(), elsewhere.store.close()])
  for (const connection of [admin, here.subscriber, elsewhere.subscriber]) connection.disconnect()
  console.log(`\n${int(settings.joins)} sockets join one DAG within one flush, ${int(settings.joins)} viewers already on another instance\n`)
  printTable(['>joins', '>HGETALLs', '>until every picture', '>CPU of this process', '>picture bytes per socket'], [
    [int(settings.joins), int(reads), ms(elapsed), ms(cpu), bytes(pictureBytes / settings.joins)]
  ])
  killChildren() // the redis-server
}

await main()
