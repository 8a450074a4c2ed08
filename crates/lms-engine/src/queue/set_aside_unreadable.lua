-- Moves jobs no worker can decode off the queue, into a hash of their own
-- where an operator can read them. One script, so that no worker fetches a
-- job while it is being moved.
--
-- KEYS[1]: the scheduled jobs sorted set
-- KEYS[2]: the active (waiting) jobs list
-- KEYS[3]: the workers sorted set (every registered worker, alive or not)
-- KEYS[4]: the job data hash
-- KEYS[5]: the set-aside hash (task id -> payload)
-- ARGV[1]: the prefix of each worker's in-flight set
-- ARGV[2]: the prefix of each job's metadata hash
-- ARGV[3..]: the task ids to set aside
-- Returns: how many were moved (a task id whose payload is gone was
-- finished and purged meanwhile, and is left alone).

local workers = redis.call('ZRANGE', KEYS[3], 0, -1)
local moved = 0
for i = 3, #ARGV do
    local task_id = ARGV[i]
    local payload = redis.call('HGET', KEYS[4], task_id)
    if payload then
        redis.call('ZREM', KEYS[1], task_id)
        redis.call('LREM', KEYS[2], 0, task_id)
        for _, worker in ipairs(workers) do
            redis.call('SREM', ARGV[1] .. ':' .. worker, task_id)
        end
        redis.call('HSET', KEYS[5], task_id, payload)
        redis.call('HDEL', KEYS[4], task_id)
        redis.call('DEL', ARGV[2] .. ':' .. task_id)
        moved = moved + 1
    end
end
return moved
