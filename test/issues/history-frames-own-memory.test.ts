// Regression (found by bench/churn.ts): the in-memory history kept each event's frame as a slice of
// Buffer.from()'s shared 8 KiB pool, so a 190-byte event held ~1.1 KiB for as long as it stayed in the
// history. Frames kept for resume own exactly their bytes.

import t from 'tap'
import { memoryBackplane, type LogEntry } from '../../lib/index.js'
import { ownedJson } from '../../lib/stream/frames.js'
import { openBackplane } from '../support/backplanes.js'

t.test('ownedJson: the JSON bytes, in a buffer of their own', async (t) => {
  const frame = ownedJson({ type: 'node_state', node_id: 'é', status: 'running' })
  t.equal(frame.toString(), '{"type":"node_state","node_id":"é","status":"running"}')
  t.equal(frame.buffer.byteLength, frame.length, 'no pool behind it')
})

t.test('every frame the memory backplane keeps owns exactly its bytes', async (t) => {
  const backplane = await openBackplane(t, memoryBackplane)
  const delivered: LogEntry[] = []
  await backplane.subscribe('d', (entry) => delivered.push(entry))
  for (let index = 0; index < 50; index++) await backplane.append('d', { type: 'node_state', node_id: `n${index}`, status: 'running' })
  const replay = await backplane.replay('d', { epoch: delivered[0]?.epoch ?? '', seq: 0 })
  t.equal(delivered.length, 50)
  t.ok(replay.recovered && replay.entries.length === 50)
  t.ok(delivered.every((entry) => entry.frame.buffer.byteLength === entry.frame.length), 'live entries')
})
