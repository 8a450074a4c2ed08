LEFT JOIN LATERAL (
    -- The journal row's live grade, else the LMS-born final grade of its
    -- enrollment, which the row takes on (a final grade per enrollment).
    SELECT f.* FROM grades f
    WHERE f.source_deleted_at IS NULL
      AND (f.legacy_id = a.legacy_id
           OR (f.enrollment_id = t.id AND f.legacy_id IS NULL AND f.kind = 'final'))
    ORDER BY f.legacy_id NULLS LAST
    LIMIT 1) g ON true
