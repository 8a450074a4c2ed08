-- Whether what run $1's bulk loads dropped may be put back now: the run
-- ended failed or cancelled, none of its chunks is still running (a chunk a
-- worker holds stays queued), no other run is active, and it left a load.
SELECT EXISTS (SELECT 1 FROM migration.bulk_loads WHERE run_id = $1)
   AND EXISTS (SELECT 1 FROM migration.runs WHERE id = $1 AND status IN ('failed', 'cancelled'))
   AND NOT EXISTS (SELECT 1 FROM migration.chunks WHERE run_id = $1 AND state = 'queued')
   AND NOT EXISTS (SELECT 1 FROM migration.runs WHERE status IN ('running', 'held', 'cancelling'))
   AS releasable
