-- Per campaign, UTC day, list and LEAD time zone: the same sign-weighted measures as cdr_hour
-- (0006) at day grain. Serves the summary cards, the funnel and the abandon trend
-- (analytics.kpis) for day-aligned filters without a team/agent filter. The abandon trend reads
-- 30 extra days for its rolling FTC window (16 CFR 310.4(b)(4)(i)): over cdr_hour that is ~440k rows
-- for a 30-day, all-campaign range of bench/analytics.py; here ~40k (24 campaigns x 60 days x
-- 4 lists x 7 zones). The zone is there for the heatmap drill-down, which needs the zones present
-- in a range (analytics/kpis/drill.py); 7 zones make it 7x rows of a tiny table.
--
-- Exact under corrections and redeliveries like every rollup here: the view sees the +1 row of a
-- CDR and, when it is corrected, the -1 copy of the stored row (same day, list, zone as before)
-- together with the new +1 row; a redelivery is never written (analytics.cdr.insert_cdrs).
-- Always read with sum() ... GROUP BY (SummingMergeTree folds equal keys only when parts merge).
CREATE TABLE IF NOT EXISTS {db}.cdr_day
(
    campaign_id    UInt32,
    day            Date,
    list_id        UInt32,
    lead_timezone  LowCardinality(String),
    dials          Int64,
    answers        Int64 COMMENT 'outcome human, machine or abandoned',
    contacts       Int64 COMMENT 'is_contact: a person answered',
    connected      Int64,
    abandoned      Int64 COMMENT 'dropped (16 CFR 310.4(b)(1)(iv))',
    sales          Int64,
    talk_s         Float64,
    wrap_s         Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (campaign_id, day, list_id, lead_timezone)
TTL day + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_day_mv TO {db}.cdr_day AS
SELECT
    campaign_id,
    toDate(dialed_at, 'UTC') AS day,
    list_id,
    lead_timezone,
    sum(sign) AS dials,
    sum(sign * (outcome IN ('human', 'machine', 'abandoned'))) AS answers,
    sum(sign * is_contact) AS contacts,
    sum(sign * (connected_at IS NOT NULL)) AS connected,
    sum(sign * dropped) AS abandoned,
    sum(sign * is_sale) AS sales,
    sum(sign * talk_s) AS talk_s,
    sum(sign * wrap_s) AS wrap_s
FROM {db}.cdr
GROUP BY campaign_id, day, list_id, lead_timezone;

-- Backfill from the CDRs already stored (see 0006 for when this is safe: before the ingest
-- starts; the guard skips it when the rollup already has rows).
INSERT INTO {db}.cdr_day
SELECT campaign_id, toDate(dialed_at, 'UTC') AS day, list_id, lead_timezone,
       sum(sign), sum(sign * (outcome IN ('human', 'machine', 'abandoned'))), sum(sign * is_contact),
       sum(sign * (connected_at IS NOT NULL)), sum(sign * dropped), sum(sign * is_sale), sum(sign * talk_s),
       sum(sign * wrap_s)
FROM {db}.cdr
WHERE (SELECT count() FROM {db}.cdr_day) = 0
GROUP BY campaign_id, day, list_id, lead_timezone
