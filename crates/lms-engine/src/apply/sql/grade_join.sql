LEFT JOIN LATERAL (
    -- The journal row's live grade, else the LMS-born final grade of its
    -- enrollment, which the row adopts (a final grade per enrollment).
    SELECT g.id FROM grades g
    WHERE g.source_deleted_at IS NULL
      AND (g.legacy_id = a.legacy_id
           OR (g.enrollment_id = t.id AND g.legacy_id IS NULL AND g.kind = 'final'))
    ORDER BY g.legacy_id NULLS LAST
    LIMIT 1) g ON true
