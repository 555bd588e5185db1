// The run list's Lua scripts. Each takes the list's keys (listScriptKeys in keys.ts: the index, the
// stamps, one sorted set per status, all in one slot) and nothing else, so they run on Redis Cluster;
// a DAG's own keys are in the DAG's slot, which is why the index is written by a call of its own after
// the append script, from its reply, rather than by the append script.
//
// The index and the status sets always change together, with the same score (the time of the DAG's
// last event), so that a page filtered by status reads only its sets: what it costs is bounded by the
// page, not by the number of DAGs (see list-index.ts).

import { EXECUTION_STATUSES } from './keys.js'
import { compact, type ScriptDefinition } from './scripts.js'

const KEY_COUNT = 2 + EXECUTION_STATUSES.length

/** Every script starts here: `sets[status]` is the key of that status's set. */
const SETS = `
local statuses = { ${EXECUTION_STATUSES.map((status) => `'${status}'`).join(', ')} }
local sets = {}
for i, status in ipairs(statuses) do sets[status] = KEYS[2 + i] end
`

/**
 * ARGV: DAG id, epoch, seq, status, score (the time of the event, ms), '1' for a repair (the stamp was
 * read from the DAG's meta) or ''.
 * Lists the DAG under its status as of that append, unless the stamp it has is newer: of the same
 * epoch, a higher seq (another instance's later append, whose update came first); of another epoch, a
 * later time, unless this is a repair, since the meta holds the DAG's current epoch. Returns 1 when
 * written, 0 when stale.
 */
const update: ScriptDefinition = {
  numberOfKeys: KEY_COUNT,
  lua: compact(`${SETS}
local id, epoch, seq, status, score, repair = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6] == '1'
local was
local stamp = redis.call('HGET', KEYS[2], id)
if stamp then
  local was_epoch, was_seq, was_status = string.match(stamp, '^(%S+) (%d+) (%S+)$')
  if was_epoch == epoch then
    if seq < tonumber(was_seq) then return 0 end
  elseif not repair then
    local listed = redis.call('ZSCORE', KEYS[1], id)
    if listed and tonumber(score) < tonumber(listed) then return 0 end
  end
  was = was_status
end
-- Out of the set its stamp names; with no stamp (a first append, or a DAG listed by an older version),
-- or in a repair, out of every other set.
if was and sets[was] and not repair then
  if was ~= status then redis.call('ZREM', sets[was], id) end
else
  for _, other in ipairs(statuses) do
    if other ~= status then redis.call('ZREM', sets[other], id) end
  end
end
redis.call('ZADD', KEYS[1], score, id)
redis.call('ZADD', sets[status], score, id)
redis.call('HSET', KEYS[2], id, epoch .. ' ' .. ARGV[3] .. ' ' .. status)
return 1
`)
}

/**
 * ARGV: offset, limit, 'newest' or 'oldest', then the statuses to read (none: the whole index).
 * Returns, for each set read, its size and its entries as [id, score, …]: of one set, the page; of
 * several, the first offset + limit of each (the page is among them), for the caller to merge. Read in
 * one step, so that a DAG moving between two sets cannot show in both, or in neither.
 */
const read: ScriptDefinition = {
  numberOfKeys: KEY_COUNT,
  lua: compact(`${SETS}
local reads = {}
for i = 4, #ARGV do reads[#reads + 1] = sets[ARGV[i]] end
if #reads == 0 then reads[1] = KEYS[1] end
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local sizes, total = {}, 0
for i, key in ipairs(reads) do
  sizes[i] = redis.call('ZCARD', key)
  total = total + sizes[i]
end
local first, last = offset, offset + limit - 1
if #reads > 1 then first = 0 end
local reply = {}
for i, key in ipairs(reads) do
  local range = {}
  -- (Past the total there is nothing to read, and an offset that large may not even be an integer to Redis.)
  if offset < total then
    if ARGV[3] == 'newest' then
      range = redis.call('ZREVRANGE', key, first, last, 'WITHSCORES')
    else
      range = redis.call('ZRANGE', key, first, last, 'WITHSCORES')
    end
  end
  reply[#reply + 1] = sizes[i]
  reply[#reply + 1] = range
end
return reply
`)
}

/**
 * ARGV: pairs of a DAG id found gone and its score when it was read. Removes each from the index, the
 * sets and the stamps, unless an append listed it again since (a new log: its update changed the
 * score). Returns the ids that were in the index, so that exactly one instance reports each eviction.
 */
const drop: ScriptDefinition = {
  numberOfKeys: KEY_COUNT,
  lua: compact(`${SETS}
local removed = {}
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local listed = redis.call('ZSCORE', KEYS[1], id)
  if not listed or tonumber(listed) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    for _, status in ipairs(statuses) do redis.call('ZREM', sets[status], id) end
    if listed then removed[#removed + 1] = id end
  end
end
return removed
`)
}

/**
 * ARGV: idle cutoff, finished cutoff (ms: DAGs whose last event is at or before it), most ids per
 * range, then the finished statuses. Removes the DAGs idle past the first cutoff, and those finished
 * past the second (their keys expired then), everywhere; returns their ids.
 */
const prune: ScriptDefinition = {
  numberOfKeys: KEY_COUNT,
  lua: compact(`${SETS}
local gone, seen = {}, {}
local function take (ids)
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      gone[#gone + 1] = id
    end
  end
end
take(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3]))
for i = 4, #ARGV do take(redis.call('ZRANGEBYSCORE', sets[ARGV[i]], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
  for _, status in ipairs(statuses) do redis.call('ZREM', sets[status], unpack(gone)) end
end
return gone
`)
}

/** Registered on the command connection under these names (by SHA, see scripts.ts). */
export const listScripts = {
  dagStreamListUpdate: update,
  dagStreamListRead: read,
  dagStreamListDrop: drop,
  dagStreamListPrune: prune
} as const

export type ListScriptName = keyof typeof listScripts
