-- What the scope did to the LMS, by legacy row: every row counts once.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE NOT conflicted AND (NOT known OR action = 'insert')) AS created,
       count(*) FILTER (WHERE NOT conflicted AND known AND action <> 'insert'
                          AND (action = 'apply' OR touched OR outcome_changed)) AS updated,
       count(*) FILTER (WHERE conflicted) AS conflicts
FROM (SELECT known, action, touched, outcome_changed,
             action IN ('conflict', 'raced', 'deferred', 'blocked', 'blocked_move')
             OR (action = 'none' AND outcome = 'migrated' AND conflict IS NOT NULL) AS conflicted
      FROM apply_plan) decided;
