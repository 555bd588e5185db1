// One PresenceStore contract, two stores: the same suite runs against the in-memory backplane's and the
// Redis one's (real Redis at 127.0.0.1:6379, a key prefix of its own, two instances on it), through
// the PresenceStore interface alone. What only Redis does (instances that die, a subscriber that
// reconnects) is tested in test/backplane/redis/presence.test.ts and test/stream/presence-failures.test.ts.

import t, { type Test } from 'tap'
import type { PresenceChange, PresenceStore, PresenceWatch } from '../../lib/backplane/types.js'
import type { PresenceViewer } from '../../schemas/index.js'
import { BACKPLANE_KINDS, openBackplane } from '../support/backplanes.js'
import { until } from '../support/wait.js'

/** What a listener was called with, its viewers read within the call (sorted by id). */
interface Heard {
  dagId: string
  change: PresenceChange
  count: number
  viewers: PresenceViewer[]
}

const byId = (viewers: Iterable<PresenceViewer>) => [...viewers].sort((a, b) => a.id.localeCompare(b.id))

const ada: PresenceViewer = { id: 'ada', identity: { id: 'u-ada', name: 'Ada' }, gate: null }
const bob: PresenceViewer = { id: 'bob', gate: 'review' }
const cy: PresenceViewer = { id: 'cy', gate: null }

const joins = (...viewers: PresenceViewer[]): PresenceChange => ({ upserted: viewers, removed: [] })
const leaves = (...ids: string[]): PresenceChange => ({ upserted: [], removed: ids })

/** A watch of `dagId` on `store` whose every call is kept in `heard`; it must stop by the end of the test. */
async function watching (store: PresenceStore, dagId: string): Promise<{ watch: PresenceWatch; heard: Heard[] }> {
  const heard: Heard[] = []
  const watch = await store.watch(dagId, (dagId, change, count, viewers) => heard.push({ dagId, change, count, viewers: byId(viewers) }))
  return { watch, heard }
}

/** Waits for the `count`th call of each listener (changes cross Redis by pub/sub, after update resolves). */
function heardAll (count: number, ...listeners: Heard[][]): Promise<void> {
  return until(() => listeners.every((heard) => heard.length >= count), `${count} presence changes for each of ${listeners.length} watches`, 5000)
}

for (const { name, store } of BACKPLANE_KINDS) {
  t.test(`${name} presence store`, async (t) => {
    /** The presence stores of two instances on one store (on memory, the one process's twice). */
    async function instances (t: Test): Promise<[PresenceStore, PresenceStore]> {
      const shared = store(t)
      const [here, there] = [await openBackplane(t, shared), await openBackplane(t, shared)]
      return [here.presence, there.presence]
    }

    t.test('a watch starts with the viewers every instance wrote before it, and hears nothing of them', async (t) => {
      const [here, there] = await instances(t)
      await here.update('d', joins(ada))
      await there.update('d', joins(bob))
      const { watch, heard } = await watching(here, 'd')
      t.same(byId(watch.viewers()), [ada, bob], 'both instances\' viewers, read when the watch started')
      await there.update('d', joins(cy))
      await heardAll(1, heard)
      t.same(heard, [{ dagId: 'd', change: joins(cy), count: 3, viewers: [ada, bob, cy] }], 'only the change after the start')
      watch.stop()
    })

    t.test('every change, from this instance or another, reaches every watch of its DAG with the count and the viewers; another DAG\'s does not', async (t) => {
      const [here, there] = await instances(t)
      const near = await watching(here, 'd')
      const far = await watching(there, 'd')
      const elsewhere = await watching(here, 'e')
      await here.update('d', joins(ada))
      await there.update('d', joins(bob))
      await heardAll(2, near.heard, far.heard)
      const expected: Heard[] = [
        { dagId: 'd', change: joins(ada), count: 1, viewers: [ada] },
        { dagId: 'd', change: joins(bob), count: 2, viewers: [ada, bob] }
      ]
      t.same(near.heard, expected, 'the watch on the instance that wrote the first change')
      t.same(far.heard, expected, 'the watch on the instance that wrote the second')
      for (const { watch } of [near, far]) t.same(byId(watch.viewers()), [ada, bob], 'viewers() adds the changes up')

      // d's changes reached this instance before e's (one subscriber, in order): had e's watch heard them, they would show.
      await there.update('e', joins(cy))
      await heardAll(1, elsewhere.heard)
      t.same(elsewhere.heard, [{ dagId: 'e', change: joins(cy), count: 1, viewers: [cy] }], 'e heard only its own change')
      t.same(byId(elsewhere.watch.viewers()), [cy])
      for (const { watch } of [near, far, elsewhere]) watch.stop()
    })

    t.test('an upsert replaces a viewer whole, a removal drops it; a DAG whose last viewer left has none, then has viewers again', async (t) => {
      const [here, there] = await instances(t)
      const { watch, heard } = await watching(here, 'd')
      await here.update('d', joins(ada))
      const atGate: PresenceViewer = { id: 'ada', gate: 'review' }
      await here.update('d', joins(atGate))
      await heardAll(2, heard)
      t.same(byId(watch.viewers()), [atGate], 'the second upsert replaced the first, identity and all')
      t.same(heard[1], { dagId: 'd', change: joins(atGate), count: 1, viewers: [atGate] })

      await here.update('d', leaves('ada'))
      await heardAll(3, heard)
      t.same(heard[2], { dagId: 'd', change: leaves('ada'), count: 0, viewers: [] }, 'the last viewer left')
      t.same([...watch.viewers()], [])

      await there.update('d', joins(bob))
      await heardAll(4, heard)
      t.same(heard[3], { dagId: 'd', change: joins(bob), count: 1, viewers: [bob] })
      t.same([...watch.viewers()], [bob], 'the DAG\'s viewers again, after it had none')
      watch.stop()
    })

    t.test('stop: that listener hears nothing more, the others go on, twice is harmless; a watch after the last stop starts afresh', async (t) => {
      const [here, there] = await instances(t)
      const first = await watching(here, 'd')
      const second = await watching(here, 'd')
      await there.update('d', joins(ada))
      await heardAll(1, first.heard, second.heard)
      first.watch.stop()
      first.watch.stop()
      await there.update('d', joins(bob))
      await heardAll(2, second.heard)
      t.equal(first.heard.length, 1, 'the stopped watch heard nothing after its stop')
      second.watch.stop()

      // Nobody watches the DAG here now: the change is still stored, and the next watch starts with it.
      await there.update('d', joins(cy))
      const again = await watching(here, 'd')
      t.same(byId(again.watch.viewers()), [ada, bob, cy])
      await there.update('d', leaves('bob'))
      await heardAll(1, again.heard)
      t.same(again.heard, [{ dagId: 'd', change: leaves('bob'), count: 2, viewers: [ada, cy] }])
      t.same([first.heard.length, second.heard.length], [1, 2], 'the stopped watches stayed stopped')
      again.watch.stop()
    })
  })
}
