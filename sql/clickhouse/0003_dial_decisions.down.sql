DROP TABLE IF EXISTS {db}.dial_decisions
