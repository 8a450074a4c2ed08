-- Nothing to undo: a baseline in UTC names the same instants, and every
-- engine reads it back the same (a cast to the owned type).
SELECT 1;
