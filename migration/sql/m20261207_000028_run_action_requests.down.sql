-- Approvals and undos go back to answering a retry by the run's state
-- ("not held", "undone already").
DROP TABLE migration.run_action_requests;
