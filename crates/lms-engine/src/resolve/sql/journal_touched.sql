-- The journal rows a delta run resolves again, as far as they can be named
-- without reading every staged row: the changed rows, and every row that
-- was in a key group with one of them at the last resolve (the group's
-- survivor and the rows merged into it). And (journal_touched_pairs) the
-- (surviving student, subject) pairs of the changed rows: a staged row
-- with one of these pairs may share a key group with a changed row now.
-- journal_keys.sql finds those rows in its one pass over the staged rows
-- (journal_touched_rows.sql), and journal_scope.sql adds them to these.
CREATE TEMP TABLE journal_touched ON COMMIT DROP AS
WITH touched_groups AS (
    SELECT coalesce(r.survivor_legacy_id, c.legacy_id) AS survivor
    FROM journal_changed c
    LEFT JOIN migration.resolutions r
      ON r.entity = 'journal' AND r.legacy_id = c.legacy_id AND r.outcome = 'merged')
SELECT legacy_id FROM journal_changed
UNION
SELECT survivor FROM touched_groups
UNION
SELECT r.legacy_id FROM migration.resolutions r
JOIN touched_groups g ON r.survivor_legacy_id = g.survivor
WHERE r.entity = 'journal' AND r.outcome = 'merged';
CREATE TEMP TABLE journal_touched_pairs ON COMMIT DROP AS
WITH target_pairs AS (
    SELECT DISTINCT st.target_id AS student_target, sb.target_id AS subject_target
    FROM journal_changed c
    JOIN migration.stage_journal j ON j.legacy_id = c.legacy_id
    JOIN journal_students st ON st.legacy_id = j.student_legacy_id
    JOIN journal_subjects sb ON sb.legacy_id = j.subject_legacy_id
    WHERE st.target_id IS NOT NULL)
-- As pairs of legacy ids (one surviving student, or subject, can have
-- several: a row may name any of them), so that the pass over the staged
-- rows compares the rows' own columns.
SELECT st.legacy_id AS student_legacy_id, sb.legacy_id AS subject_legacy_id
FROM target_pairs p
JOIN journal_students st ON st.target_id = p.student_target
JOIN journal_subjects sb ON sb.target_id = p.subject_target;
ANALYZE journal_touched, journal_touched_pairs;
