LEFT JOIN LATERAL (
    -- The journal row's live grade, else the LMS-born final grade of its
    -- enrollment, which the row takes on (a final grade per enrollment).
    -- A retired enrollment's own grade was retired with it (at the same
    -- instant), and is its grade still, unless a live one was given in the
    -- LMS since: without it, a row coming back read as an LMS edit that
    -- removed the grade.
    SELECT f.* FROM grades f
    WHERE (f.source_deleted_at IS NULL
           OR (f.legacy_id = a.legacy_id AND f.source_deleted_at = t.source_deleted_at))
      AND (f.legacy_id = a.legacy_id
           OR (f.enrollment_id = t.id AND f.legacy_id IS NULL AND f.kind = 'final'))
    ORDER BY f.source_deleted_at IS NOT NULL, f.legacy_id NULLS LAST
    LIMIT 1) g ON true
