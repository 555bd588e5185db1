// The retry schedule, on its own: full jitter bounds, doubling, the 30 s cap, the reset after a
// healthy connection (with a fake clock), and bad options.

import fc from 'fast-check'
import { mock } from 'node:test'
import t from 'tap'
import { Backoff, DEFAULT_MAX_DELAY_MS, DEFAULT_MIN_DELAY_MS } from '../lib/client/index.js'

const ceilings = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]

t.test('defaults: 1 s, 2 s, 4 s … windows, capped at 30 s', async (t) => {
  t.equal(DEFAULT_MIN_DELAY_MS, 1000)
  t.equal(DEFAULT_MAX_DELAY_MS, 30_000)
  const top = new Backoff({ random: () => 0.999_999 })
  t.same(ceilings.map(() => top.next()), ceilings.map((ceiling) => Math.floor(ceiling * 0.999_999)), 'the top of each window')
  const bottom = new Backoff({ random: () => 0 })
  t.same(ceilings.map(() => bottom.next()), ceilings.map(() => 0), 'full jitter reaches down to 0')
  t.equal(top.attempt, ceilings.length)
})

t.test('every delay lies in [0, min(max, min·2^n)), whatever the randomness and the options', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 60 }),
      (minDelayMs, extra, draws) => {
        const maxDelayMs = minDelayMs + extra
        let index = 0
        const backoff = new Backoff({ minDelayMs, maxDelayMs, random: () => draws[index] as number })
        for (index = 0; index < draws.length; index++) {
          const delay = backoff.next()
          const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** index)
          if (delay < 0 || delay >= ceiling) throw new Error(`attempt ${index}: ${delay} outside [0, ${ceiling})`)
        }
      }
    )
  )
})

t.test('the schedule starts over after a connection that stayed up resetAfterMs, not before', async (t) => {
  mock.timers.enable({ apis: ['Date'], now: 0 })
  t.teardown(() => mock.timers.reset())
  const backoff = new Backoff({ random: () => 0.5, resetAfterMs: 10_000 })
  t.same([backoff.next(), backoff.next(), backoff.next()], [500, 1000, 2000])

  backoff.connected()
  mock.timers.tick(9_999)
  backoff.disconnected()
  t.equal(backoff.next(), 4000, 'a short-lived connection keeps backing off')

  backoff.connected()
  mock.timers.tick(10_000)
  backoff.disconnected()
  t.equal(backoff.attempt, 0)
  t.equal(backoff.next(), 500, 'a healthy connection starts the schedule over')

  backoff.disconnected()
  t.equal(backoff.next(), 1000, 'a second disconnect without a connection changes nothing')
})

t.test('the exponent is capped, so a client retrying for days never waits Infinity or NaN', async (t) => {
  const backoff = new Backoff({ random: () => 0.5 })
  for (let attempt = 0; attempt < 5000; attempt++) backoff.next()
  t.equal(backoff.next(), 15_000)
})

t.test('bad options fail at creation with a message that names them', async (t) => {
  t.throws(() => new Backoff({ minDelayMs: -1 }), { name: 'TypeError', message: /"backoff\.minDelayMs" must be a number of milliseconds/ })
  t.throws(() => new Backoff({ maxDelayMs: Number.NaN }), /backoff\.maxDelayMs/)
  t.throws(() => new Backoff({ minDelayMs: 5000, maxDelayMs: 1000 }), { name: 'RangeError' })
  t.equal(new Backoff({ minDelayMs: 60_000 }).next() <= 60_000, true, 'a larger minimum raises the default cap with it')
})
