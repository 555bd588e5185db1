// The follower on its own: pub/sub messages that come late, twice, out of order or not at all, merged
// with reads of a log, must reach the sockets once each, in order, with any unfillable gap visible.

import t, { type Test } from 'tap'
import { Follower, type ReadAfter } from '../../../lib/backplane/redis/follower.js'
import type { LogEntry, Replay } from '../../../lib/index.js'
import { tick } from '../../support/wait.js'

function entry (seq: number, epoch = 'e'): LogEntry {
  return { epoch, seq, frame: Buffer.from(`{"seq":${seq}}`) }
}

interface FakeLog {
  head: number
  oldest: number
  epoch: string
  reads: number
  /** While set, reads wait for it. */
  hold?: Promise<void>
  fail: boolean
  read: ReadAfter
}

/** A log of entries `oldest`..`head` in epoch `e`, read through a promise the test may hold. */
function fakeLog (head: number, oldest = 1): FakeLog {
  const log: FakeLog = {
    head,
    oldest,
    epoch: 'e',
    reads: 0,
    fail: false,
    read: async (since) => {
      log.reads++
      await log.hold
      if (log.fail) throw new Error('Redis is down')
      const { epoch, head } = log
      if (since.epoch !== epoch || since.seq + 1 < log.oldest) return { recovered: false, epoch, seq: head, reason: 'history_exceeded' }
      const entries = Array.from({ length: head - since.seq }, (_, index) => entry(since.seq + 1 + index, epoch))
      return { recovered: true, epoch, seq: head, entries } satisfies Replay
    }
  }
  return log
}

function follow (read: ReadAfter) {
  const errors: unknown[] = []
  const follower = new Follower(read, (error) => errors.push(error))
  const seen: number[] = []
  follower.listeners.add((delivered) => seen.push(delivered.seq))
  return { follower, seen, errors }
}

/**
 * A follower at seq 3 of `log` when Redis goes down with a gap open: entry 5 waits for 4, whose read
 * fails. Nothing is delivered, and the failure is reported once.
 */
async function heldBehindUnreadableGap (t: Test, log: FakeLog) {
  const followed = follow(log.read)
  followed.follower.start({ epoch: 'e', seq: 3 })
  log.fail = true
  followed.follower.receive(entry(5))
  await tick()
  t.same(followed.seen, [], 'entry 5 is held')
  t.equal(followed.errors.length, 1, 'the failed read is reported')
  return followed
}

t.test('messages before the start are held, and those the head covers are dropped', async (t) => {
  const { follower, seen } = follow(fakeLog(3).read)
  follower.receive(entry(2))
  follower.receive(entry(3))
  follower.receive(entry(4))
  t.same(seen, [], 'nothing before the head is known')
  follower.start({ epoch: 'e', seq: 3 })
  t.same(seen, [4])
  follower.receive(entry(4))
  follower.receive(entry(5))
  t.same(seen, [4, 5], 'a duplicate is dropped')
  t.same(follower.position, { epoch: 'e', seq: 5 })
})

t.test('a gap is filled from the log before anything later is delivered', async (t) => {
  const log = fakeLog(9)
  const { follower, seen } = follow(log.read)
  follower.start({ epoch: 'e', seq: 4 })
  let release!: () => void
  log.hold = new Promise<void>((resolve) => { release = resolve })
  follower.receive(entry(8))
  follower.receive(entry(9))
  t.same(seen, [], 'held while 5..7 are read')
  release()
  await tick()
  t.same(seen, [5, 6, 7, 8, 9])
  t.equal(log.reads, 1)
})

t.test('a gap the log no longer has goes out as a jump, which the sockets turn into resync_required', async (t) => {
  const log = fakeLog(20, 15)
  const { follower, seen } = follow(log.read)
  follower.start({ epoch: 'e', seq: 4 })
  let release!: () => void
  log.hold = new Promise<void>((resolve) => { release = resolve })
  follower.receive(entry(19))
  follower.receive(entry(19)) // pub/sub may repeat itself around a reconnect
  follower.receive(entry(20))
  release()
  await tick()
  t.same(seen, [19, 20])
  t.same(follower.position, { epoch: 'e', seq: 20 })
})

t.test('recover after a reconnect: what was published meanwhile comes from the log; a trimmed tail moves the position', async (t) => {
  const log = fakeLog(7)
  const { follower, seen } = follow(log.read)
  follower.recover()
  t.equal(log.reads, 0, 'not before the start')
  follower.start({ epoch: 'e', seq: 5 })
  follower.recover()
  await tick()
  t.same(seen, [6, 7])
  log.head = 40
  log.oldest = 30
  follower.recover()
  await tick()
  t.same(seen, [6, 7, 40], 'the newest entry at least, so the sockets see the jump now')
  follower.receive(entry(41))
  t.same(seen, [6, 7, 40, 41])
})

t.test('a log replaced while the instance was away: its entries, or at least its newest, are delivered at once', async (t) => {
  const log = fakeLog(5)
  const { follower, seen } = follow(log.read)
  follower.start({ epoch: 'e', seq: 5 })
  log.epoch = 'f'
  log.head = 3
  follower.recover()
  await tick()
  t.same(seen, [1, 2, 3])
  t.same(follower.position, { epoch: 'f', seq: 3 })
  log.epoch = 'g'
  log.head = 50
  log.oldest = 45
  follower.recover()
  await tick()
  t.same(seen, [1, 2, 3, 50], 'its start is trimmed: its newest entry')
  t.same(follower.position, { epoch: 'g', seq: 50 })
  log.epoch = ''
  log.head = 0
  follower.recover()
  await tick()
  t.same(follower.position, { epoch: 'g', seq: 50 }, 'a DAG gone from Redis: nothing to follow until it comes back')
})

t.test('a log replaced while a reconnect reads the old one: the new log is read from its start, whatever arrived meanwhile', async (t) => {
  // Redis restarted empty while this instance's subscriber was away: the engine's first event of the new
  // log was published before the subscriber was back, its second arrives while the follower reads.
  const log = fakeLog(2)
  log.epoch = 'f'
  const { follower, seen } = follow(log.read)
  follower.start({ epoch: 'e', seq: 11 })
  let release!: () => void
  log.hold = new Promise<void>((resolve) => { release = resolve })
  follower.recover()
  follower.receive(entry(2, 'f'))
  release()
  await tick()
  t.same(seen, [1, 2], 'the first event of the new log too, not a jump past it')
  t.same(follower.position, { epoch: 'f', seq: 2 })
})

t.test('entries held from a log that was then replaced are dropped, not delivered after the new one', async (t) => {
  const log = fakeLog(3)
  const { follower, seen } = await heldBehindUnreadableGap(t, log)
  // It comes back empty, and the engine begins a new log.
  log.fail = false
  log.epoch = 'f'
  log.head = 2
  follower.recover()
  await tick()
  t.same(seen, [1, 2], 'the new log, once')
  t.same(follower.position, { epoch: 'f', seq: 2 })
  t.equal(log.reads, 3, 'the failed read, the old position, the new log: no more')
  follower.receive(entry(3, 'f'))
  t.same(seen, [1, 2, 3])
})

t.test('a new epoch is followed from its start', async (t) => {
  const log = fakeLog(2)
  const { follower, seen } = follow(log.read)
  follower.start({ epoch: '', seq: 0 })
  follower.receive(entry(1))
  follower.receive(entry(1, 'f'))
  follower.receive(entry(2, 'f'))
  t.same(seen, [1, 1, 2])
  t.same(follower.position, { epoch: 'f', seq: 2 })
})

t.test('while the log cannot be read, entries are held; the next try delivers them in order', async (t) => {
  const log = fakeLog(6)
  const { follower, seen } = await heldBehindUnreadableGap(t, log)
  log.fail = false
  follower.receive(entry(6))
  await tick()
  t.same(seen, [4, 5, 6])
})

t.test('too much held while a gap cannot be filled: delivered with the jump, so memory stays bounded', async (t) => {
  const log = fakeLog(1)
  log.fail = true
  const { follower, seen } = follow(log.read)
  follower.start({ epoch: 'e', seq: 1 })
  for (let seq = 3; seq <= 10_003; seq++) follower.receive(entry(seq))
  t.equal(seen.length, 10_001)
  t.same([seen[0], seen.at(-1)], [3, 10_003])
  await tick()
  follower.receive(entry(10_004))
  t.equal(seen.at(-1), 10_004, 'and it carries on live')
})
