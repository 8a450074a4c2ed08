-- Whether the server is in recovery (a standby), whether it holds WAL it
-- has received but not yet replayed, and how long ago the last transaction
-- it replayed committed (NULL: none since it started). A standby that is
-- caught up with what it received is not behind, however idle the primary.
SELECT
    pg_is_in_recovery() AS in_recovery,
    coalesce(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false) AS wal_pending,
    (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint
        AS replay_age_ms
