-- Per agent and UTC day: the CDR side of the agent leaderboard (analytics.kpis.agent_leaderboard)
-- for day-aligned filters without a list filter. Without it the leaderboard sums every CDR of the
-- range (3.5M rows for 30 days in bench/analytics.py); an agent-day folds ~65 calls into one row
-- per campaign. Sign-weighted sums fed by a materialized view, like 0005/0006; calls without an
-- agent are left out (a correction that moves a call to agent 0 still takes it back from the old
-- agent: the -1 row carries the old agent_id).
CREATE TABLE IF NOT EXISTS {db}.cdr_agent_day
(
    campaign_id  UInt32,
    day          Date,
    team_id      UInt32,
    agent_id     UInt32,
    calls        Int64 COMMENT 'connected to this agent',
    conversions  Int64,
    handle_s     Float64 COMMENT 'talk + wrap'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (campaign_id, day, team_id, agent_id)
TTL day + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_agent_day_mv TO {db}.cdr_agent_day AS
SELECT
    campaign_id,
    toDate(dialed_at, 'UTC') AS day,
    team_id,
    agent_id,
    sum(sign * (connected_at IS NOT NULL)) AS calls,
    sum(sign * is_sale) AS conversions,
    sum(sign * (talk_s + wrap_s)) AS handle_s
FROM {db}.cdr
WHERE agent_id != 0
GROUP BY campaign_id, day, team_id, agent_id;

-- Backfill (see 0006 for when this is safe).
INSERT INTO {db}.cdr_agent_day
SELECT campaign_id, toDate(dialed_at, 'UTC') AS day, team_id, agent_id, sum(sign * (connected_at IS NOT NULL)),
       sum(sign * is_sale), sum(sign * (talk_s + wrap_s))
FROM {db}.cdr
WHERE agent_id != 0 AND (SELECT count() FROM {db}.cdr_agent_day) = 0
GROUP BY campaign_id, day, team_id, agent_id
