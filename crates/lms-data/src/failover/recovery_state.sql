-- Whether the server is in recovery (a standby); whether it holds WAL it
-- has received and could replay but has not (WAL the startup process is
-- waiting to complete, the unflushed rest of a record on a quiet primary,
-- is not pending); how long ago the last transaction it replayed committed
-- (NULL: none since it started); and the last position it received. A
-- standby that is caught up with what it received is not behind, however
-- idle the primary. The startup process's wait is visible to a role with
-- pg_read_all_stats (pg_monitor); without it, only the second look
-- (probe.rs) tells a record's unflushed rest from lag.
SELECT
    pg_is_in_recovery() AS in_recovery,
    pg_last_wal_receive_lsn()::text AS received,
    coalesce(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false)
        AND NOT coalesce(
            (SELECT wait_event IN ('RecoveryWalStream', 'RecoveryRetrieveRetryInterval')
             FROM pg_stat_activity
             WHERE backend_type = 'startup'),
            false
        ) AS wal_pending,
    (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint
        AS replay_age_ms
