import t from 'tap'
import { CloseCode, closeCodeDescriptions, shouldReconnect } from '../lib/index.js'

t.test('every close code is documented and classified', async (t) => {
  const reconnect = [CloseCode.GOING_AWAY, CloseCode.ABNORMAL, CloseCode.INTERNAL_ERROR, CloseCode.SLOW_CONSUMER, CloseCode.UNAUTHORIZED]
  const terminal = [CloseCode.NORMAL, CloseCode.INVALID_PAYLOAD, CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG, CloseCode.FORBIDDEN]
  t.same([...reconnect, ...terminal].sort(), Object.values(CloseCode).sort(), 'the lists cover the table')
  for (const code of reconnect) t.ok(shouldReconnect(code), `${code} reconnects`)
  for (const code of terminal) t.notOk(shouldReconnect(code), `${code} does not`)
  for (const code of Object.values(CloseCode)) t.ok(closeCodeDescriptions[code].length > 10, `${code} is described`)
})

t.test('codes this server never sends follow the ranges', async (t) => {
  t.ok(shouldReconnect(1012), 'service restart (from a proxy)')
  t.ok(shouldReconnect(4499))
  t.notOk(shouldReconnect(4500))
  t.notOk(shouldReconnect(4999))
})
