ALTER TABLE {db}.cdr DROP INDEX IF EXISTS idx_agent_set
