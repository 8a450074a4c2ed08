-- Migrated persons in canonical form (verify/canonical.rs).
SELECT legacy_id, last_name, first_name, middle_name, iin, to_char(birth_date, 'YYYY-MM-DD') AS birth_date,
       gender, phone, to_char(created_at AT TIME ZONE 'UTC', '{{instant}}') AS created_at
FROM persons
WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL
