-- The journal rows whose key or standing may have changed since the
-- resolutions were last in step with staging: rows staged new, changed or
-- gone since, and rows pointing at a student, subject or group whose
-- ledger changed after $1 (when the journal last caught up with it). Also
-- the rows the apply may write although nothing of theirs changed, so that
-- their course offerings exist: rows in the scope of a run that did not
-- finish, and conflicts to try again under the run's policy ($2).
INSERT INTO journal_changed (legacy_id)
SELECT legacy_id FROM migration.stage_changes WHERE entity = 'journal'
UNION
SELECT j.legacy_id FROM migration.stage_journal j
JOIN migration.ledger r ON r.entity = 'students' AND r.legacy_id = j.student_legacy_id
WHERE r.recorded_at > coalesce($1::timestamptz, '-infinity')
UNION
SELECT j.legacy_id FROM migration.stage_journal j
JOIN migration.ledger r ON r.entity = 'subjects' AND r.legacy_id = j.subject_legacy_id
WHERE r.recorded_at > coalesce($1::timestamptz, '-infinity')
UNION
SELECT j.legacy_id FROM migration.stage_journal j
JOIN migration.ledger r ON r.entity = 'groups' AND r.legacy_id = j.group_legacy_id
WHERE r.recorded_at > coalesce($1::timestamptz, '-infinity')
UNION
SELECT legacy_id FROM migration.apply_scope WHERE entity = 'journal'
UNION
SELECT legacy_id FROM migration.ledger
WHERE entity = 'journal' AND conflict IS NOT NULL AND (conflict = 'key_taken' OR $2 = 'take_legacy');
