    UNION
    -- Rows referencing a {{referenced}} row whose ledger changed since.
    SELECT s.legacy_id FROM {{stage}} s
    JOIN migration.ledger r ON r.entity = '{{referenced}}' AND r.legacy_id = s.{{column}}
    WHERE r.recorded_at > coalesce($3::timestamptz, '-infinity')
