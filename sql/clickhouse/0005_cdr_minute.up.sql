-- Per-campaign, per-minute totals of the CDRs, kept by a materialized view on every insert into
-- cdr. Every column is a sum of sign-weighted values, so a CDR's -1 row (a correction, see 0001)
-- takes back exactly what its +1 row added: always read with sum() ... GROUP BY, never the raw
-- rows (SummingMergeTree folds rows with the same key only when parts merge).
-- minute = the minute the call was dialed (UTC).
CREATE TABLE IF NOT EXISTS {db}.cdr_minute
(
    campaign_id    UInt32,
    minute         DateTime('UTC'),
    dials          Int64 COMMENT 'call attempts',
    answers        Int64 COMMENT 'answered by a person or a machine',
    humans         Int64 COMMENT 'answered by a person (contacts)',
    machines       Int64,
    connected      Int64 COMMENT 'bridged to an agent',
    abandoned      Int64 COMMENT 'dropped: a person answered, no agent in time',
    safe_harbor    Int64 COMMENT 'safe-harbor message played',
    sales          Int64,
    dnc            Int64,
    ring_s         Float64,
    wait_s         Float64 COMMENT 'sum over answered calls',
    talk_s         Float64,
    wrap_s         Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (campaign_id, minute)
TTL minute + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_minute_mv TO {db}.cdr_minute AS
SELECT
    campaign_id,
    toStartOfMinute(toDateTime(dialed_at, 'UTC')) AS minute,
    sum(sign) AS dials,
    sum(sign * (outcome IN ('human', 'machine', 'abandoned'))) AS answers,
    sum(sign * is_contact) AS humans,
    sum(sign * (outcome = 'machine')) AS machines,
    sum(sign * (connected_at IS NOT NULL)) AS connected,
    sum(sign * dropped) AS abandoned,
    sum(sign * safe_harbor_played) AS safe_harbor,
    sum(sign * is_sale) AS sales,
    sum(sign * is_dnc) AS dnc,
    sum(sign * ring_s) AS ring_s,
    sum(sign * wait_s) AS wait_s,
    sum(sign * talk_s) AS talk_s,
    sum(sign * wrap_s) AS wrap_s
FROM {db}.cdr
GROUP BY campaign_id, minute
