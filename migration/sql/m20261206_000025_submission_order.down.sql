ALTER TABLE migration.stage_exam_results DROP COLUMN submitted_order;
