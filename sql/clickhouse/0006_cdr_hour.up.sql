-- Hourly CDR rollups for the analytics pages (analytics/kpis): the page queries read these
-- instead of cdr whenever the filter allows (no team/agent filter, range aligned to the rollup's
-- grain); otherwise they read cdr itself. Fed by materialized views on every insert into cdr,
-- with sign-weighted sums like cdr_minute (0005): a corrected CDR's -1 row takes back exactly what
-- its +1 row added, a redelivered CDR is never written (analytics.cdr.insert_cdrs). Always read
-- with sum() ... GROUP BY (SummingMergeTree folds equal keys only when parts merge).
--
-- cdr_hour: per campaign, UTC hour, list and LEAD time zone. The zone is what makes lead-local
-- KPIs possible from a rollup: toTimeZone() needs a constant zone, so the pages aggregate by
-- (zone, UTC hour) and shift each zone to local time in pandas (analytics/kpis/_time.py).
-- ~300 calls per campaign-hour fold into ~20 rows.
CREATE TABLE IF NOT EXISTS {db}.cdr_hour
(
    campaign_id    UInt32,
    hour           DateTime('UTC'),
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
PARTITION BY toYYYYMM(hour)
ORDER BY (campaign_id, hour, list_id, lead_timezone)
TTL hour + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_hour_mv TO {db}.cdr_hour AS
SELECT
    campaign_id,
    toStartOfHour(toDateTime(dialed_at, 'UTC')) AS hour,
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
GROUP BY campaign_id, hour, list_id, lead_timezone;

-- cdr_day_disposition: per campaign, UTC day, list, attempt number and disposition: list
-- penetration (attempt_no) and dispositions by day. ~5000 calls per campaign-day fold into a
-- few hundred rows.
CREATE TABLE IF NOT EXISTS {db}.cdr_day_disposition
(
    campaign_id       UInt32,
    day               Date,
    list_id           UInt32,
    attempt_no        UInt16,
    disposition_code  LowCardinality(String),
    dials             Int64,
    contacts          Int64,
    sales             Int64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (campaign_id, day, list_id, attempt_no, disposition_code)
TTL day + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_day_disposition_mv TO {db}.cdr_day_disposition AS
SELECT
    campaign_id,
    toDate(dialed_at, 'UTC') AS day,
    list_id,
    attempt_no,
    disposition_code,
    sum(sign) AS dials,
    sum(sign * is_contact) AS contacts,
    sum(sign * is_sale) AS sales
FROM {db}.cdr
GROUP BY campaign_id, day, list_id, attempt_no, disposition_code;

-- Backfill from the CDRs already stored. Safe to re-run only while nothing else writes cdr: a
-- migration is applied before the ingest starts (docs/analytics.md); the guard skips it when the
-- rollup already has rows (a re-run after a crash past this point).
INSERT INTO {db}.cdr_hour
SELECT campaign_id, toStartOfHour(toDateTime(dialed_at, 'UTC')) AS hour, list_id, lead_timezone,
       sum(sign), sum(sign * (outcome IN ('human', 'machine', 'abandoned'))), sum(sign * is_contact),
       sum(sign * (connected_at IS NOT NULL)), sum(sign * dropped), sum(sign * is_sale), sum(sign * talk_s),
       sum(sign * wrap_s)
FROM {db}.cdr
WHERE (SELECT count() FROM {db}.cdr_hour) = 0
GROUP BY campaign_id, hour, list_id, lead_timezone;

INSERT INTO {db}.cdr_day_disposition
SELECT campaign_id, toDate(dialed_at, 'UTC') AS day, list_id, attempt_no, disposition_code,
       sum(sign), sum(sign * is_contact), sum(sign * is_sale)
FROM {db}.cdr
WHERE (SELECT count() FROM {db}.cdr_day_disposition) = 0
GROUP BY campaign_id, day, list_id, attempt_no, disposition_code
