// The Lua scripts. Each one does what must be atomic for one DAG and nothing more: no DAG state is
// computed here (the reducer in lib/shared/reducer.ts is the only definition of state) and no gate rule
// (lib/commands/gates.ts): scripts number, store, trim, expire, publish and compare-and-set.
// The read and gate scripts go by SHA (ioredis's EVALSHA, with EVAL after Redis lost its cache); the
// append goes by EVAL, so that losing the cache cannot reorder appends (see RedisBackplane.append).

export interface ScriptDefinition {
  numberOfKeys: number
  lua: string
}

/** The script as sent: no comments or indentation, since the append's body travels with every call. */
export function compact (lua: string): string {
  return lua.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('--')).join('\n')
}

/**
 * Appends one or more events of one DAG, in order, in one atomic step.
 * KEYS: meta, log, checkpoint, gates.
 * ARGV: 1 epoch to use if the DAG has none, 2 appending instance ('' leaves the driver as it is: an
 * event POSTed through another instance than the engine's command feed), 3 now (ms), 4 history window,
 * 5 idle TTL (ms), 6 channel, 7 the list channel, 8 the DAG id, 9 the producer or '' (the HTTP engine
 * API, lib/http/engine-api.ts), 10 the producer's number of the first event; then for each event
 * `APPEND_FIELDS` = 6 fields: event JSON, status to set or '', TTL (ms) that comes with that status,
 * gate id or '', gate phase (and offer, lib/commands/gates.ts encodePhase) or '' (remove), '1' to
 * clear the gate's claim.
 * The meta field `open_gates` counts the gates whose phase is `waiting` (written here and nowhere else:
 * compareAndSetGate changes claims only). A new log, or a change of status or of that count from before
 * the first event to after the last, is also published on the list channel as
 * `changed <seq> <epoch> <status> <now> <dagId> <previous status, '' for a new log> <open_gates> <previous open_gates>`.
 * Returns { seq of the first event stored, epoch, ckpt_seq, events skipped, status after them } (the status
 * for the list index, which is in another slot: list-scripts.ts): with a producer, the events
 * whose numbers it stored already are skipped (a retried batch); { -1, number expected } when the
 * batch skips numbers (nothing stored); { 0, '', 0, count } when every event was stored already.
 */
export const appendScript: ScriptDefinition = {
  numberOfKeys: 4,
  lua: compact(`
local meta, log, ckpt, gates = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
-- A producer's last number is stored with its events, in this script: a retry never applies twice.
-- A producer the log does not know starts at any number (a lost log forgets them all).
local producer, skip = ARGV[9], 0
local count = (#ARGV - 10) / 6
if producer ~= '' then
  local last = redis.call('HGET', meta, 'n:' .. producer)
  if last then
    local number = tonumber(ARGV[10])
    if number > tonumber(last) + 1 then return { -1, tonumber(last) + 1 } end
    skip = tonumber(last) + 1 - number
    if skip >= count then return { 0, '', 0, count } end
  end
end
local m = redis.call('HMGET', meta, 'epoch', 'status', 'open_gates')
local epoch, previous, open = m[1], '', 0
if epoch then
  previous, open = m[2], tonumber(m[3])
  if not open then
    -- A log written before the count was kept: its gates are counted once.
    open = 0
    for _, value in ipairs(redis.call('HVALS', gates)) do
      if string.sub(value, 1, 7) == 'waiting' then open = open + 1 end
    end
  end
else
  -- A new DAG, or one whose data is gone: a new log, whose new epoch tells every client so.
  epoch = ARGV[1]
  redis.call('DEL', log, ckpt, gates)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0, 'ckpt_seq', 0, 'status', 'running', 'ttl', ARGV[5])
end
local opened = open
local first = tonumber(redis.call('HGET', meta, 'seq')) + 1
local seq = first - 1
for base = 11 + skip * 6, #ARGV, 6 do
  seq = seq + 1
  -- The event is a JSON object: its position goes in before the closing brace, as JSON.stringify would.
  local frame = string.sub(ARGV[base], 1, -2) .. ',"seq":' .. seq .. ',"epoch":"' .. epoch .. '"}'
  redis.call('XADD', log, seq .. '-0', 'f', frame)
  if ARGV[base + 1] ~= '' then redis.call('HSET', meta, 'status', ARGV[base + 1], 'ttl', ARGV[base + 2]) end
  if ARGV[base + 3] ~= '' then
    local field, phase = 'p:' .. ARGV[base + 3], ARGV[base + 4]
    -- A phase is 'waiting', 'waiting <offer>' or 'decided' (encodePhase): the count moves with each change.
    if string.sub(redis.call('HGET', gates, field) or '', 1, 7) == 'waiting' then open = open - 1 end
    if string.sub(phase, 1, 7) == 'waiting' then open = open + 1 end
    if phase == '' then redis.call('HDEL', gates, field) else redis.call('HSET', gates, field, phase) end
    if ARGV[base + 5] == '1' then redis.call('HDEL', gates, 'c:' .. ARGV[base + 3]) end
  end
  redis.call('PUBLISH', ARGV[6], seq .. ' ' .. epoch .. ' ' .. frame)
end
-- Keep the history window, and never an entry after the checkpoint: the snapshot is built from them.
local ckpt_seq = tonumber(redis.call('HGET', meta, 'ckpt_seq'))
redis.call('XTRIM', log, 'MAXLEN', math.max(tonumber(ARGV[4]), seq - ckpt_seq))
redis.call('HSET', meta, 'seq', seq, 'updated_at', ARGV[3], 'open_gates', open)
if ARGV[2] ~= '' then redis.call('HSET', meta, 'driver', ARGV[2]) end
if producer ~= '' then redis.call('HSET', meta, 'n:' .. producer, tonumber(ARGV[10]) + count - 1) end
local ttl = redis.call('HGET', meta, 'ttl')
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
local status = redis.call('HGET', meta, 'status')
if status ~= previous or open ~= opened then
  redis.call('PUBLISH', ARGV[7], 'changed ' .. seq .. ' ' .. epoch .. ' ' .. status .. ' ' .. ARGV[3] .. ' ' .. ARGV[8] .. ' ' .. previous .. ' ' .. open .. ' ' .. opened)
end
return { first, epoch, ckpt_seq, skip, status }
`)
}

/** Fields per event in the append script's ARGV, after its 8 fields for the whole call. */
export const APPEND_FIELDS = 6

/**
 * KEYS: meta, log, checkpoint. Returns nil for an unknown DAG, else
 * { epoch, seq, ckpt_seq, checkpoint JSON or nil, stream entries after ckpt_seq }.
 */
const readState: ScriptDefinition = {
  numberOfKeys: 3,
  lua: compact(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'ckpt_seq')
if not m[1] then return nil end
local ckpt_seq = tonumber(m[3])
local checkpoint = false
if ckpt_seq > 0 then checkpoint = redis.call('GET', KEYS[3]) end
return { m[1], m[2], m[3], checkpoint, redis.call('XRANGE', KEYS[2], (ckpt_seq + 1) .. '-0', '+') }
`)
}

/**
 * KEYS: meta, log. ARGV: epoch and seq the reader has, history window.
 * Returns nil for an unknown DAG, else { epoch, seq, oldest seq kept for replay, entries after the
 * reader's seq (only when its epoch matches, or it is at 0, and they are all kept) }.
 */
const readAfter: ScriptDefinition = {
  numberOfKeys: 2,
  lua: compact(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if not m[1] then return nil end
local head = tonumber(m[2])
local oldest = head + 1
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then oldest = tonumber(string.match(first[1][1], '^%d+')) end
oldest = math.max(oldest, head - tonumber(ARGV[3]) + 1)
local since = tonumber(ARGV[2])
local entries = {}
-- A reader at 0 has nothing of any epoch: it follows any log whose start is still kept.
if (ARGV[1] == m[1] or since == 0) and since + 1 >= oldest and since < head then
  entries = redis.call('XRANGE', KEYS[2], (since + 1) .. '-0', '+')
end
return { m[1], head, oldest, entries }
`)
}

/**
 * KEYS: meta, log, checkpoint. ARGV: epoch, seq, snapshot JSON, history window.
 * Stores the checkpoint if the log is still that epoch and it is newer than the stored one; then
 * the entries it covers may be trimmed. Returns 1 if stored.
 */
const checkpoint: ScriptDefinition = {
  numberOfKeys: 3,
  lua: compact(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'ckpt_seq')
if m[1] ~= ARGV[1] or tonumber(ARGV[2]) <= tonumber(m[3]) then return 0 end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[1], 'ckpt_seq', ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
redis.call('XTRIM', KEYS[2], 'MAXLEN', math.max(tonumber(ARGV[4]), tonumber(m[2]) - tonumber(ARGV[2])))
return 1
`)
}

/** KEYS: meta, gates. ARGV: gate id. Returns nil for an unknown DAG, else { epoch, seq, status, phase, claim }. */
const readGate: ScriptDefinition = {
  numberOfKeys: 2,
  lua: compact(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'status')
if not m[1] then return nil end
local g = redis.call('HMGET', KEYS[2], 'p:' .. ARGV[1], 'c:' .. ARGV[1])
return { m[1], m[2], m[3], g[1] or '', g[2] or '' }
`)
}

/**
 * KEYS: meta, gates. ARGV: gate id, epoch, phase and claim as read, phase and claim to write ('' removes).
 * Writes only if nothing changed since the read, the DAG's log included. Returns 1 written, 0 not.
 * The rules of lib/commands/gates.ts change claims only: the phase written is the one read, so the
 * meta's `open_gates` (the append script's) stays exact without this script.
 */
const compareAndSetGate: ScriptDefinition = {
  numberOfKeys: 2,
  lua: compact(`
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
local phase_field, claim_field = 'p:' .. ARGV[1], 'c:' .. ARGV[1]
local phase = redis.call('HGET', KEYS[2], phase_field) or ''
local claim = redis.call('HGET', KEYS[2], claim_field) or ''
if phase ~= ARGV[3] or claim ~= ARGV[4] then return 0 end
if ARGV[5] == '' then redis.call('HDEL', KEYS[2], phase_field) else redis.call('HSET', KEYS[2], phase_field, ARGV[5]) end
if ARGV[6] == '' then redis.call('HDEL', KEYS[2], claim_field) else redis.call('HSET', KEYS[2], claim_field, ARGV[6]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`)
}

/**
 * KEYS: the leases sorted set. ARGV: now (ms), most to take. Removes and returns the DAG ids whose
 * lease lapsed, so that exactly one instance reports each.
 */
const takeLapsedLeases: ScriptDefinition = {
  numberOfKeys: 1,
  lua: compact(`
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #lapsed > 0 then redis.call('ZREM', KEYS[1], unpack(lapsed)) end
return lapsed
`)
}

/**
 * KEYS: meta. ARGV: instance, idle TTL (ms). Makes the instance the DAG's driver (client events go to
 * it), whether or not the DAG has a log yet: its first event keeps the field. A meta with no TTL yet
 * (no log) gets the idle one, so that a feed for a DAG that never starts leaves nothing behind.
 */
const drive: ScriptDefinition = {
  numberOfKeys: 1,
  lua: compact(`
redis.call('HSET', KEYS[1], 'driver', ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)
}

/** Registered on the command connection under these names (and `<name>Buffer` for Buffer replies). */
export const scripts = {
  dagStreamReadState: readState,
  dagStreamReadAfter: readAfter,
  dagStreamCheckpoint: checkpoint,
  dagStreamReadGate: readGate,
  dagStreamDrive: drive,
  dagStreamCompareAndSetGate: compareAndSetGate,
  dagStreamTakeLapsedLeases: takeLapsedLeases
} as const

export type ScriptName = keyof typeof scripts
