-- Drop the set_updated_at() trigger function.
DROP FUNCTION IF EXISTS set_updated_at();
