DROP VIEW IF EXISTS {db}.cdr_agent_day_mv;
DROP TABLE IF EXISTS {db}.cdr_agent_day
