DROP TABLE IF EXISTS {db}.agent_states
