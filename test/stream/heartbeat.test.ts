import t from 'tap'
import { until } from '../support/wait.js'
import { HeartbeatSchedule } from '../../lib/stream/heartbeat.js'
import { build, TestClient } from '../support/helpers.js'

t.test('a peer that stops answering pings is terminated and leaves its room', async (t) => {
  const { app, url } = await build(t, { heartbeatMs: 200 })
  // autoPong: false makes this client behave like a vanished laptop: the TCP connection stays, nobody answers.
  const dead = await TestClient.open(url('/api/dags/d/stream'), { autoPong: false })
  const alive = await TestClient.open(url('/api/dags/d/stream'))
  await dead.next()
  await alive.next()
  t.equal(app.dagStream.connections('d'), 2)
  const { code } = await dead.closed
  t.equal(code, 1006, 'terminated without a close frame')
  t.equal(app.dagStream.connections('d'), 1, 'it left the room')
  // Each heartbeat pings; the dead peer went after at most two, the live one answers them all.
  let pings = 0
  alive.socket.on('ping', () => pings++)
  await until(() => pings >= 5 || alive.socket.readyState !== alive.socket.OPEN, 'five more heartbeats')
  t.equal(alive.socket.readyState, alive.socket.OPEN, `a peer that answers stays through many heartbeats (${pings} pings)`)
  t.equal(app.dagStream.connections('d'), 1)
  alive.close()
})

t.test('the interval is cut into slices of about a second; every member is due once per interval, in a slice it keeps', async (t) => {
  const schedule = new HeartbeatSchedule(25_000)
  t.equal(schedule.slices, 25)
  t.equal(schedule.tickMs, 1000)
  const members = Array.from({ length: 103 }, (_, index) => ({ index }))
  const dueAt = new Map<object, number[]>()
  for (let tick = 0; tick < 3 * schedule.slices; tick++) {
    schedule.advance()
    const due = members.filter((member) => schedule.isDue(member))
    t.ok(due.length <= Math.ceil(members.length / schedule.slices), `tick ${tick}: ${due.length} due, an even share`)
    for (const member of due) dueAt.set(member, [...(dueAt.get(member) ?? []), tick])
  }
  for (const member of members) {
    const ticks = dueAt.get(member) ?? []
    t.equal(ticks.length, 3, 'due once in each of three intervals')
    t.same(ticks.slice(1).map((tick, i) => tick - (ticks[i] as number)), [schedule.slices, schedule.slices], 'exactly one interval apart')
  }
  t.same(new HeartbeatSchedule(1999), { slices: 2, tickMs: 999.5 }, 'rounded to whole slices')
  const short = new HeartbeatSchedule(200)
  t.same({ slices: short.slices, tickMs: short.tickMs }, { slices: 1, tickMs: 200 }, 'under 1.5 s: one slice, every member every tick')
})

t.test('a server with many sockets pings them in slices, each once per interval', async (t) => {
  const { app, url } = await build(t, { heartbeatMs: 2000 })
  const clients = await Promise.all(Array.from({ length: 6 }, () => TestClient.open(url('/api/dags/d/stream'))))
  const pings: number[][] = clients.map(() => [])
  clients.forEach((client, index) => client.socket.on('ping', () => pings[index]!.push(Date.now())))
  await until(() => pings.every((times) => times.length >= 2), 'two pings each')
  t.equal(app.dagStream.connections('d'), 6, 'nobody was terminated')
  const firsts = pings.map((times) => times[0] as number).sort((a, b) => a - b)
  const spread = (firsts.at(-1) as number) - (firsts[0] as number)
  t.ok(spread >= 500, `the first pings came in two slices about a second apart, not at once (${spread} ms between the first and last)`)
  for (const times of pings) t.ok((times[1] as number) - (times[0] as number) >= 1500, 'each socket once per interval')
  for (const client of clients) client.close()
})
