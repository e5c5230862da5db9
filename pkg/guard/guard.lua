-- Bindery's dependency guard: one atomic step per call (pkg/guard/redis.go).
--
-- An institution's copy of its unfinished jobs, which the reconciler
-- rebuilds from PostgreSQL, is a marker hash and one hash per job type:
--   KEYS[1]   the marker: field "epoch" holds the epoch the copy was built
--             under. No "epoch": the copy is lost; every operation answers
--             LOST and changes nothing.
--   KEYS[2..] job type hashes: field "<job id>" holds
--             "<state>|<type>|<since ms>", state A (admitted: QUEUED ..
--             FINALIZING, or a START lease not yet committed) or P (PENDING).
-- A step reads only the hashes of the types the job's rules name.
--
-- ARGV[1] is the operation:
--   decide  id type now single roles
--     KEYS[2] is the job's own type, KEYS[3..] the types its rules name;
--     roles is one of c (conflicts), w (waits for), cw per KEYS[3..],
--     comma-separated.
--     -> SKIP epoch blocker_id blocker_value
--      | PENDING epoch (id value)...  (a P lease for id recorded)
--      | START epoch                  (an A lease for id recorded)
--   promote id type now roles         (keys as for decide)
--     -> BLOCKED epoch (id value)... | MISSING epoch | OK epoch (id now A)
--   put epoch (k id old new)...       compare-and-set in KEYS[k] under that
--     epoch: old "" means absent, new "" deletes -> OK epoch | STALE epoch
--   release id...                     delete from every KEYS[2..] -> OK epoch
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return {'LOST'}
end
local op = ARGV[1]

local function split(csv)
  local out = {}
  for t in string.gmatch(csv, '[^,]+') do
    out[#out + 1] = t
  end
  return out
end

local function state(v)
  return string.sub(v, 1, 1)
end

-- scan calls visit(id, value) for every job in KEYS[k] but self.
local function scan(k, self, visit)
  local all = redis.call('HGETALL', KEYS[k])
  for i = 1, #all, 2 do
    if all[i] ~= self then
      visit(all[i], all[i + 1])
    end
  end
end

if op == 'decide' or op == 'promote' then
  local id, typ, now = ARGV[2], ARGV[3], ARGV[4]
  local single, roles
  if op == 'decide' then
    single, roles = ARGV[5] == '1', split(ARGV[6])
  else
    single, roles = false, split(ARGV[5])
    if not redis.call('HGET', KEYS[2], id) then
      return {'MISSING', epoch}
    end
  end
  local self = tonumber(id)
  local low, blocker = nil, nil
  local others = {}
  local function skipper(f, v)
    local n = tonumber(f)
    if not low or n < low then
      low, blocker = n, {f, v}
    end
  end
  if single then
    scan(2, id, skipper)
  end
  for j = 3, #KEYS do
    local r = roles[j - 2] or ''
    local c, w = string.find(r, 'c', 1, true) ~= nil, string.find(r, 'w', 1, true) ~= nil
    scan(j, id, function(f, v)
      if op == 'decide' then
        if c and state(v) == 'A' then
          skipper(f, v)
        elseif w then
          others[#others + 1] = f
          others[#others + 1] = v
        end
      elseif (w and tonumber(f) < self) or (c and state(v) == 'A') then
        others[#others + 1] = f
        others[#others + 1] = v
      end
    end)
  end
  if op == 'promote' then
    if #others > 0 then
      return {'BLOCKED', epoch, unpack(others)}
    end
    redis.call('HSET', KEYS[2], id, 'A|' .. typ .. '|' .. now)
    return {'OK', epoch}
  end
  if blocker then
    return {'SKIP', epoch, blocker[1], blocker[2]}
  end
  if #others > 0 then
    redis.call('HSET', KEYS[2], id, 'P|' .. typ .. '|' .. now)
    return {'PENDING', epoch, unpack(others)}
  end
  redis.call('HSET', KEYS[2], id, 'A|' .. typ .. '|' .. now)
  return {'START', epoch}
end

if op == 'put' then
  if epoch ~= ARGV[2] then
    return {'STALE', epoch}
  end
  for i = 3, #ARGV, 4 do
    local k = KEYS[tonumber(ARGV[i])]
    local cur = redis.call('HGET', k, ARGV[i + 1]) or ''
    if cur == ARGV[i + 2] then
      if ARGV[i + 3] == '' then
        redis.call('HDEL', k, ARGV[i + 1])
      else
        redis.call('HSET', k, ARGV[i + 1], ARGV[i + 3])
      end
    end
  end
  return {'OK', epoch}
end

if op == 'release' then
  for j = 2, #KEYS do
    for i = 2, #ARGV do
      redis.call('HDEL', KEYS[j], ARGV[i])
    end
  end
  return {'OK', epoch}
end

return redis.error_reply('guard: unknown operation ' .. tostring(op))
