-- Bindery's dependency guard: one atomic step per call (pkg/guard/redis.go).
--
-- KEYS[1] is an institution's guard hash, a copy of its unfinished jobs that
-- the reconciler rebuilds from PostgreSQL: field "epoch" holds the epoch the
-- copy was built under; field "<job id>" holds "<state>|<type>|<since ms>",
-- state A (admitted: QUEUED .. FINALIZING, or a START lease not yet
-- committed) or P (PENDING). A hash without "epoch" is a lost copy: every
-- operation answers LOST and changes nothing.
--
-- ARGV[1] is the operation:
--   decide  id type now single conflicts waits
--           -> SKIP epoch blocker_id blocker_type blocker_state blocker_since
--            | PENDING epoch (id value)... (a P lease for id recorded)
--            | START epoch         (an A lease for id recorded)
--   promote id type now conflicts waits
--           -> BLOCKED epoch (id value)... | MISSING epoch | OK epoch (id now A)
--   put     epoch (id old new)...  compare-and-set under that epoch: old ""
--           means absent, new "" deletes -> OK epoch | STALE epoch
--   release id...                  -> OK epoch
-- conflicts and waits are comma-separated type lists.
local key = KEYS[1]
local op = ARGV[1]
local epoch = redis.call('HGET', key, 'epoch')
if not epoch then
  return {'LOST'}
end

local function set(csv)
  local s = {}
  for t in string.gmatch(csv, '[^,]+') do
    s[t] = true
  end
  return s
end

local function parse(v)
  return string.match(v, '^(%a)|(.*)|(%d+)$')
end

if op == 'decide' then
  local id, typ, now, single = ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1'
  local conflicts, waits = set(ARGV[6]), set(ARGV[7])
  local all = redis.call('HGETALL', key)
  local blocker, low = nil, nil
  local pending = {}
  for i = 1, #all, 2 do
    local f = all[i]
    if f ~= 'epoch' and f ~= id then
      local st, t, since = parse(all[i + 1])
      if (single and t == typ) or (conflicts[t] and st == 'A') then
        local n = tonumber(f)
        if not low or n < low then
          low, blocker = n, {f, t, st, since}
        end
      elseif waits[t] then
        pending[#pending + 1] = f
        pending[#pending + 1] = all[i + 1]
      end
    end
  end
  if blocker then
    return {'SKIP', epoch, blocker[1], blocker[2], blocker[3], blocker[4]}
  end
  if #pending > 0 then
    redis.call('HSET', key, id, 'P|' .. typ .. '|' .. now)
    return {'PENDING', epoch, unpack(pending)}
  end
  redis.call('HSET', key, id, 'A|' .. typ .. '|' .. now)
  return {'START', epoch}
end

if op == 'promote' then
  local id, typ, now = ARGV[2], ARGV[3], ARGV[4]
  local conflicts, waits = set(ARGV[5]), set(ARGV[6])
  if not redis.call('HGET', key, id) then
    return {'MISSING', epoch}
  end
  local self = tonumber(id)
  local all = redis.call('HGETALL', key)
  local blockers = {}
  for i = 1, #all, 2 do
    local f = all[i]
    if f ~= 'epoch' and f ~= id then
      local st, t = parse(all[i + 1])
      if (waits[t] and tonumber(f) < self) or (conflicts[t] and st == 'A') then
        blockers[#blockers + 1] = f
        blockers[#blockers + 1] = all[i + 1]
      end
    end
  end
  if #blockers > 0 then
    return {'BLOCKED', epoch, unpack(blockers)}
  end
  redis.call('HSET', key, id, 'A|' .. typ .. '|' .. now)
  return {'OK', epoch}
end

if op == 'put' then
  if epoch ~= ARGV[2] then
    return {'STALE', epoch}
  end
  for i = 3, #ARGV, 3 do
    local cur = redis.call('HGET', key, ARGV[i]) or ''
    if cur == ARGV[i + 1] then
      if ARGV[i + 2] == '' then
        redis.call('HDEL', key, ARGV[i])
      else
        redis.call('HSET', key, ARGV[i], ARGV[i + 2])
      end
    end
  end
  return {'OK', epoch}
end

if op == 'release' then
  for i = 2, #ARGV do
    redis.call('HDEL', key, ARGV[i])
  end
  return {'OK', epoch}
end

return redis.error_reply('guard: unknown operation ' .. tostring(op))
