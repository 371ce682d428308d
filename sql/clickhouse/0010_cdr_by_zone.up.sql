-- The heatmap drill-down's copy of cdr, sorted by the LEAD's time zone, then time.
--
-- A heatmap cell is a lead-local weekday x hour. toHour(t, tz) needs a constant zone, so
-- analytics/kpis/drill.py turns the cell into the (zone, UTC hour) pairs that fall on it (in
-- pandas, with the zones' DST rules, exactly as the heatmap buckets) -- about one pair per zone
-- and week. cdr is sorted by (campaign_id, dialed_at): the pairs of a 30-day, all-campaign range
-- touched 165 of its 8192-row granules (1.35M rows) and the drill took ~0.25 s at 10M CDRs. Here
-- each pair is one contiguous key range (lead_timezone, dialed_at): ~66 granules of 1024 rows.
-- index_granularity 1024: the rows are narrow and the ranges short (measured: 1024 reads and
-- plans fastest; 8192 doubles the keys query).
--
-- Only the columns a drill filters on (KpiFilter dimensions, CallDrill fields) and lists
-- (analytics.kpis.agents.CALL_COLUMNS), so one table answers the whole drill: keys and total,
-- then the page's rows by exact key. Cost: ~375 MiB on disk per 10M CDRs (cdr: ~527 MiB).
--
-- Same engine and rows as cdr: the view copies every row cdr receives, +1 and -1 alike, so a
-- correction's -1 copy of the stored row (old zone, old disposition ...) and the new +1 row arrive
-- here in the same block, and sum(sign) per call -- the drill's "live call" test -- is the same
-- in both tables before and after merges. A redelivery is never written to cdr, so never here.
CREATE TABLE IF NOT EXISTS {db}.cdr_by_zone
(
    lead_timezone     LowCardinality(String),
    dialed_at         DateTime64(3, 'UTC'),
    call_id           UUID,
    campaign_id       UInt32,
    list_id           UInt32,
    team_id           UInt32,
    agent_id          UInt32,
    lead_id           UInt64,
    phone_e164        String,
    attempt_no        UInt16,
    outcome           LowCardinality(String),
    disposition_code  LowCardinality(String),
    connected_at      Nullable(DateTime64(3, 'UTC')),
    is_contact        UInt8,
    is_sale           UInt8,
    ring_s            Float32,
    wait_s            Float32,
    talk_s            Float32,
    wrap_s            Float32,
    recording_id      String,
    version           UInt64,
    sign              Int8
)
ENGINE = VersionedCollapsingMergeTree(sign, version)
PARTITION BY toYYYYMM(dialed_at)
ORDER BY (lead_timezone, dialed_at, call_id)
TTL toDateTime(dialed_at) + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1, index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_by_zone_mv TO {db}.cdr_by_zone AS
SELECT lead_timezone, dialed_at, call_id, campaign_id, list_id, team_id, agent_id, lead_id, phone_e164, attempt_no,
       outcome, disposition_code, connected_at, is_contact, is_sale, ring_s, wait_s, talk_s, wrap_s, recording_id,
       version, sign
FROM {db}.cdr;

-- Backfill: every stored row, signs included (see 0006 for when this is safe).
INSERT INTO {db}.cdr_by_zone
SELECT lead_timezone, dialed_at, call_id, campaign_id, list_id, team_id, agent_id, lead_id, phone_e164, attempt_no,
       outcome, disposition_code, connected_at, is_contact, is_sale, ring_s, wait_s, talk_s, wrap_s, recording_id,
       version, sign
FROM {db}.cdr
WHERE (SELECT count() FROM {db}.cdr_by_zone) = 0
