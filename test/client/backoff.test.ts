// The retry schedule, on its own: full jitter bounds with a floor, doubling, the 30 s cap, the reset
// after a healthy connection (with a fake clock), the spread of a reconnect storm, and bad options.

import fc from 'fast-check'
import { mock } from 'node:test'
import t from 'tap'
import { Backoff, DEFAULT_MAX_DELAY_MS, DEFAULT_MIN_DELAY_MS } from '../../lib/client/index.js'

const ceilings = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]

t.test('defaults: 1 s, 2 s, 4 s … windows, capped at 30 s', async (t) => {
  t.equal(DEFAULT_MIN_DELAY_MS, 1000)
  t.equal(DEFAULT_MAX_DELAY_MS, 30_000)
  const top = new Backoff({ random: () => 0.999_999 })
  t.same(ceilings.map(() => top.next()), ceilings.map((ceiling) => Math.floor(500 + (ceiling - 500) * 0.999_999)), 'the top of each window')
  const bottom = new Backoff({ random: () => 0 })
  t.same(ceilings.map(() => bottom.next()), ceilings.map(() => 500), 'full jitter reaches down to the floor, half the first window')
  t.equal(top.attempt, ceilings.length)
})

t.test('every delay lies in [min/2, min(max, min·2^n)), whatever the randomness and the options', async () => {
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
          const floor = Math.floor(minDelayMs / 2)
          if (delay < floor || delay >= ceiling) throw new Error(`attempt ${index}: ${delay} outside [${floor}, ${ceiling})`)
        }
      }
    )
  )
})

t.test('the largest draw below 1 stays under the ceiling, whatever the window', async (t) => {
  const largestBelowOne = 1 - 2 ** -53
  for (const minDelayMs of [1, 2, 3, 7, 999, 1000, 1001, 4999]) {
    for (const extra of [0, 1, 3, 100_000]) {
      const maxDelayMs = minDelayMs + extra
      const backoff = new Backoff({ minDelayMs, maxDelayMs, random: () => largestBelowOne })
      for (let attempt = 0; attempt < 40; attempt++) {
        const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** attempt)
        const delay = backoff.next()
        if (delay >= ceiling) t.fail(`min ${minDelayMs}, max ${maxDelayMs}, attempt ${attempt}: ${delay} ≥ ${ceiling}`)
      }
    }
  }
  t.equal(new Backoff({ minDelayMs: 1, maxDelayMs: 1, random: () => largestBelowOne }).next(), 0, 'the counterexample fast-check once found')
})

t.test('the schedule starts over after a connection that stayed up resetAfterMs, not before', async (t) => {
  mock.timers.enable({ apis: ['Date'], now: 0 })
  t.teardown(() => mock.timers.reset())
  const backoff = new Backoff({ random: () => 0.5, resetAfterMs: 10_000 })
  t.same([backoff.next(), backoff.next(), backoff.next()], [750, 1250, 2250])

  backoff.connected()
  mock.timers.tick(9_999)
  backoff.disconnected()
  t.equal(backoff.next(), 4250, 'a short-lived connection keeps backing off')

  backoff.connected()
  mock.timers.tick(10_000)
  backoff.disconnected()
  t.equal(backoff.attempt, 0)
  t.equal(backoff.next(), 750, 'a healthy connection starts the schedule over')

  backoff.disconnected()
  t.equal(backoff.next(), 1250, 'a second disconnect without a connection changes nothing')
})

t.test('the exponent is capped, so a client retrying for days never waits Infinity or NaN', async (t) => {
  const backoff = new Backoff({ random: () => 0.5 })
  for (let attempt = 0; attempt < 5000; attempt++) backoff.next()
  t.equal(backoff.next(), 15_250)
})

t.test('a reconnect storm: 5,000 first retries stay off the first 500 ms and spread evenly over the rest', async (t) => {
  const delays = Array.from({ length: 5000 }, () => new Backoff().next())
  t.ok(Math.min(...delays) >= 500, `the earliest comes back after ${Math.min(...delays)} ms`)
  t.ok(Math.max(...delays) < 1000)
  // Ten 50 ms slices of the window: each gets about a tenth (±3 points is over 7 standard deviations).
  const slices = Array.from({ length: 10 }, (_, slice) => delays.filter((delay) => Math.floor((delay - 500) / 50) === slice).length / delays.length)
  t.ok(slices.every((share) => share > 0.07 && share < 0.13), `shares per 50 ms: ${slices.map((share) => share.toFixed(3)).join(' ')}`)
})

t.test('bad options fail at creation with a message that names them', async (t) => {
  t.throws(() => new Backoff({ minDelayMs: -1 }), { name: 'TypeError', message: /"backoff\.minDelayMs" must be a number of milliseconds/ })
  t.throws(() => new Backoff({ maxDelayMs: Number.NaN }), /backoff\.maxDelayMs/)
  t.throws(() => new Backoff({ minDelayMs: 5000, maxDelayMs: 1000 }), { name: 'RangeError' })
  t.equal(new Backoff({ minDelayMs: 60_000 }).next() <= 60_000, true, 'a larger minimum raises the default cap with it')
})
