WITH inserted AS (
    INSERT INTO {{target}} (legacy_id, {{columns}})
    SELECT a.legacy_id, {{values}}
    FROM apply_plan p JOIN apply_rows a ON a.legacy_id = p.legacy_id
    WHERE p.action = 'insert'
    ORDER BY a.legacy_id
    RETURNING id, legacy_id)
UPDATE apply_plan p
SET target_id = i.id
FROM inserted i
WHERE i.legacy_id = p.legacy_id;
