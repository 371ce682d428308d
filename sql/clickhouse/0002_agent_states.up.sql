-- One row per agent state interval (ready, reserved, incall, wrap, paused, dead).
-- An interval may be written while open (ended_at NULL) and again when it closes, with a higher
-- version: ReplacingMergeTree keeps the latest, so read with FINAL (or argMax by version).
CREATE TABLE IF NOT EXISTS {db}.agent_states
(
    interval_id  UUID,
    agent_id     UInt32,
    team_id      UInt32,
    campaign_id  UInt32 COMMENT '0 = not in a campaign',
    session_id   String COMMENT 'the agent login session',
    state        LowCardinality(String) COMMENT 'ready|reserved|incall|wrap|paused|dead',
    pause_code   LowCardinality(String),
    started_at   DateTime64(3, 'UTC'),
    ended_at     Nullable(DateTime64(3, 'UTC')),
    duration_s   Float32 COMMENT '0 while open',
    call_id      Nullable(UUID),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (agent_id, started_at, interval_id)
TTL toDateTime(started_at) + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1
