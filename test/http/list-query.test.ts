// The list's query is checked the same way whatever the backplane: an offset no backplane can take
// (`1e21`, which Redis reads as no integer at all) is a 400 on memory and on Redis, for the page and
// for the live list's upgrade, and never a Redis error passed off as an outage.

import t from 'tap'
import { memoryBackplane, type BackplaneProvider } from '../../lib/index.js'
import { redisBackplane } from '../../lib/backplane/redis/index.js'
import { build, upgradeRefusal } from '../support/helpers.js'
import { cleanupPrefix, REDIS_URL, uniquePrefix } from '../support/redis-helpers.js'

const backplanes: Array<[string, () => BackplaneProvider]> = [
  ['memory', () => memoryBackplane],
  ['Redis', () => {
    const prefix = uniquePrefix('list-query')
    cleanupPrefix(t, prefix)
    return redisBackplane({ url: REDIS_URL, keyPrefix: prefix })
  }]
]

for (const [name, backplane] of backplanes) {
  t.test(`${name}: an offset past 2^53 - 1 is a 400, on the page and on the live list`, async (t) => {
    const { app, url, http } = await build(t, { backplane: backplane() })
    await app.dagStream.broadcast('d', { type: 'execution_status', status: 'failed' })
    for (const query of ['offset=1e21', 'offset=1e21&status=failed', `offset=${Number.MAX_SAFE_INTEGER + 1}`]) {
      const response = await fetch(`${http}/api/dags?${query}`)
      t.equal(response.status, 400, query)
      t.match(await response.json(), { code: 'FST_ERR_VALIDATION', message: /querystring\/offset must be <= 9007199254740991/ }, query)
      t.equal((await upgradeRefusal(url(`/api/dags?${query}`))).status, 400, `${query}: the live list`)
    }
    const last = await fetch(`${http}/api/dags?offset=${Number.MAX_SAFE_INTEGER}&status=failed`)
    t.equal(last.status, 200, 'the largest offset is a page, empty')
    t.match(await last.json(), { dags: [], total: 1 })
  })
}
