-- When the migration last wrote a ledger row's LMS row (an apply, an
-- insert, a take-legacy run writing legacy's values over an LMS edit) or
-- its baseline (`written`, also when adopted from the LMS row).
-- `recorded_at` moves whenever the ledger row is written again, also when
-- the LMS row is not (legacy changed only what the migration does not
-- compare, a warning, the key group handed to a new survivor); verify
-- explains a difference by an API write made since the migration last
-- wrote, so it reads this one. Rows recorded before this migration take
-- their recorded_at, the nearest the ledger knew (and so does a row an
-- undo puts back from an image taken before it: verify reads
-- coalesce(written_at, recorded_at)).
ALTER TABLE migration.ledger ADD COLUMN written_at timestamptz;
UPDATE migration.ledger SET written_at = recorded_at WHERE written IS NOT NULL;
