-- Every step of the runs named ($1, uuid[]), with the legacy rows its done
-- chunks covered (stage and apply chunks record them as `rows` in their
-- stats; other chunks count none).
SELECT s.run_id, s.entity, s.phase, s.state, s.chunks_done, s.chunks_total,
       s.load_path, s.load_reason,
       (SELECT coalesce(sum((c.stats->>'rows')::bigint), 0)
        FROM migration.chunks c
        WHERE c.step_id = s.id AND c.state = 'done'
          AND jsonb_typeof(c.stats->'rows') = 'number')::bigint AS rows_done
FROM migration.run_steps s
WHERE s.run_id = ANY($1)
