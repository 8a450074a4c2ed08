-- The journal rows a delta run resolves again: the changed rows, every row
-- that was in a key group with one of them at the last resolve (the
-- group's survivor and the rows merged into it), and every row that may
-- share a key group with one of them now (the same surviving student and
-- subject). Every key group outside this set keeps its members, so its
-- survivor and its resolutions stand as they are.
CREATE TEMP TABLE journal_scope ON COMMIT DROP AS
WITH touched_groups AS (
    SELECT coalesce(r.survivor_legacy_id, c.legacy_id) AS survivor
    FROM journal_changed c
    LEFT JOIN migration.resolutions r
      ON r.entity = 'journal' AND r.legacy_id = c.legacy_id AND r.outcome = 'merged'),
changed_pairs AS (
    SELECT DISTINCT st.target_id AS student_target, sb.target_id AS subject_target
    FROM journal_changed c
    JOIN migration.stage_journal j ON j.legacy_id = c.legacy_id
    JOIN journal_students st ON st.legacy_id = j.student_legacy_id
    JOIN journal_subjects sb ON sb.legacy_id = j.subject_legacy_id
    WHERE st.target_id IS NOT NULL)
SELECT legacy_id FROM journal_changed
UNION
SELECT survivor FROM touched_groups
UNION
SELECT r.legacy_id FROM migration.resolutions r
JOIN touched_groups g ON r.survivor_legacy_id = g.survivor
WHERE r.entity = 'journal' AND r.outcome = 'merged'
UNION
SELECT j.legacy_id FROM migration.stage_journal j
JOIN journal_students st ON st.legacy_id = j.student_legacy_id
JOIN journal_subjects sb ON sb.legacy_id = j.subject_legacy_id
JOIN changed_pairs p ON p.student_target = st.target_id AND p.subject_target = sb.target_id;
ANALYZE journal_scope;
