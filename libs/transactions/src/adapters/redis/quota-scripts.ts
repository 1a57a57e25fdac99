/**
 * The quota cache's Lua scripts. Each runs atomically in Redis and touches only the keys of one resource,
 * all sharing the hash tag `{<resource>}` so Redis Cluster keeps them on one slot:
 *
 *   KEYS[1] meta     hash  epoch, available, lent, touched
 *   KEYS[2] res      hash  key → "state|units|deadline|gtid|epoch" (state reserved or held)
 *   KEYS[3] exp      zset  key scored by its deadline (reserved only)
 *   KEYS[4] tomb     hash  key → released | expired | settled
 *   KEYS[5] tomb-at  zset  key scored by when it was finished (tombstones pruned after a while)
 *   KEYS[6] ops      set   lend operation ids applied in this epoch
 *   KEYS[7] returns  hash  reclaim operation id → units taken back, until the main database applied it
 */

/** Parses a reservation's value into its fields (state, units, deadline, gtid, epoch). */
const PARSE = `
local function parse(v)
  local f = {}
  for part in string.gmatch(v, '([^|]+)') do f[#f + 1] = part end
  return f[1], tonumber(f[2]), f[3], f[4], f[5]
end
local function finish(key, state, now)
  redis.call('HSET', KEYS[4], key, state)
  redis.call('ZADD', KEYS[5], now, key)
end
`;

/** ARGV: key, units, deadline, gtid, now → {'reserved', epoch, units} | {'insufficient', n, epoch} | {'refused', state} | {'no-quota'} */
export const RESERVE = `${PARSE}
local key = ARGV[1]
local gone = redis.call('HGET', KEYS[4], key)
if gone then return {'refused', gone} end
local current = redis.call('HGET', KEYS[2], key)
if current then
  local _, units, _, _, epoch = parse(current)
  return {'reserved', epoch, units}
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {'no-quota'} end
local units = tonumber(ARGV[2])
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
if available < units then return {'insufficient', available, epoch} end
redis.call('HINCRBY', KEYS[1], 'available', -units)
redis.call('HSET', KEYS[1], 'touched', ARGV[5])
redis.call('HSET', KEYS[2], key, 'reserved|' .. units .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. epoch)
redis.call('ZADD', KEYS[3], ARGV[3], key)
return {'reserved', epoch, units}
`;

/** ARGV: key, now → {'released', units} | {'already', tombstone state} | {'absent'} */
export const RELEASE = `${PARSE}
local key = ARGV[1]
local current = redis.call('HGET', KEYS[2], key)
if not current then
  local gone = redis.call('HGET', KEYS[4], key)
  if gone then return {'already', gone} end
  finish(key, 'released', ARGV[2])
  return {'absent'}
end
local _, units, _, _, epoch = parse(current)
if redis.call('HGET', KEYS[1], 'epoch') == epoch then
  redis.call('HINCRBY', KEYS[1], 'available', units)
end
redis.call('HDEL', KEYS[2], key)
redis.call('ZREM', KEYS[3], key)
finish(key, 'released', ARGV[2])
return {'released', units}
`;

/** ARGV: key, now → 'held' | tombstone state | 'absent' */
export const HOLD = `${PARSE}
local key = ARGV[1]
local current = redis.call('HGET', KEYS[2], key)
if not current then
  return redis.call('HGET', KEYS[4], key) or 'absent'
end
local state, units, _, gtid, epoch = parse(current)
if state ~= 'held' then
  redis.call('HSET', KEYS[2], key, 'held|' .. units .. '|' .. ARGV[2] .. '|' .. gtid .. '|' .. epoch)
  redis.call('ZREM', KEYS[3], key)
end
return 'held'
`;

/** ARGV: key, epoch, now → 'settled' | 'absent' */
export const SETTLE = `${PARSE}
local key = ARGV[1]
local current = redis.call('HGET', KEYS[2], key)
if not current then
  if not redis.call('HGET', KEYS[4], key) then finish(key, 'settled', ARGV[3]) end
  return 'absent'
end
local _, units, _, _, epoch = parse(current)
if epoch ~= ARGV[2] then return 'absent' end
if redis.call('HGET', KEYS[1], 'epoch') == epoch then
  redis.call('HINCRBY', KEYS[1], 'lent', -units)
end
redis.call('HDEL', KEYS[2], key)
redis.call('ZREM', KEYS[3], key)
finish(key, 'settled', ARGV[3])
return 'settled'
`;

/** ARGV: now, limit, tombstone ttl ms → expired keys. Also prunes tombstones older than the ttl. */
export const EXPIRE = `${PARSE}
local now = tonumber(ARGV[1])
local keys = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local expired = {}
local epochNow = redis.call('HGET', KEYS[1], 'epoch')
for _, key in ipairs(keys) do
  local current = redis.call('HGET', KEYS[2], key)
  redis.call('ZREM', KEYS[3], key)
  if current then
    local state, units, _, _, epoch = parse(current)
    if state == 'reserved' then
      if epochNow == epoch then redis.call('HINCRBY', KEYS[1], 'available', units) end
      redis.call('HDEL', KEYS[2], key)
      finish(key, 'expired', now)
      expired[#expired + 1] = key
    end
  end
end
local old = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[3]), 'LIMIT', 0, 1000)
for _, key in ipairs(old) do
  redis.call('HDEL', KEYS[4], key)
  redis.call('ZREM', KEYS[5], key)
end
return expired
`;

/**
 * ARGV: epoch, opId, units, create (1|0), now, replaces ('' or the stale epoch a create may replace)
 * → 'lent' | 'duplicate' | 'epoch-mismatch'. A replaced epoch's reservations stay, tied to their old
 * epoch: they still expire, release and settle, but never give units to the new one.
 */
export const LEND = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or (ARGV[4] == '1' and ARGV[6] ~= '' and epoch == ARGV[6]) then
  if ARGV[4] ~= '1' then return 'epoch-mismatch' end
  redis.call('DEL', KEYS[6], KEYS[7])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'available', 0, 'lent', 0, 'touched', ARGV[5])
  epoch = ARGV[1]
end
if epoch ~= ARGV[1] then return 'epoch-mismatch' end
if redis.call('SADD', KEYS[6], ARGV[2]) == 0 then return 'duplicate' end
redis.call('HINCRBY', KEYS[1], 'available', tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'lent', tonumber(ARGV[3]))
return 'lent'
`;

/** ARGV: epoch, opId, max, now → units taken back | -1 (epoch mismatch) */
export const RECLAIM = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return -1 end
local done = redis.call('HGET', KEYS[7], ARGV[2])
if done then return tonumber(done) end
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
local units = math.min(available, tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'available', -units)
redis.call('HINCRBY', KEYS[1], 'lent', -units)
redis.call('HSET', KEYS[7], ARGV[2], units)
return units
`;
