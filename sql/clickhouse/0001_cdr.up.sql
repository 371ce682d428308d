-- One row per call attempt (the analytical copy of PostgreSQL call_attempts).
--
-- Engine: VersionedCollapsingMergeTree(sign, version). analytics.cdr writes a CDR as a +1 row;
-- a later version of the same call (disposition changed, wrap ended) is written as a -1 copy of
-- the stored row plus the new +1 row in ONE insert block. So:
--   * `FROM cdr FINAL` returns the latest version of each call;
--   * `sum(sign)`, `sum(sign * talk_s)` ... are exact WITHOUT FINAL, before or after merges;
--   * the per-minute rollup (0005) is fed by a materialized view that sees the same +1/-1
--     rows, so it stays exact when a CDR is corrected, and a redelivered CDR (same call_id,
--     version not newer) is never written at all.
-- Sorting key: campaign first, then time (per-campaign per-day queries read a narrow range);
-- call_id makes it unique per call. dialed_at is set once at origination and never changes, and
-- the -1 row is a copy of the stored row, so both rows of a pair share the key.
CREATE TABLE IF NOT EXISTS {db}.cdr
(
    call_id            UUID,
    campaign_id        UInt32,
    list_id            UInt32,
    lead_id            UInt64,
    agent_id           UInt32 COMMENT '0 = no agent',
    team_id            UInt32,
    pbx                LowCardinality(String),
    uniqueid           String COMMENT 'Asterisk channel uniqueid',
    phone_e164         String,
    lead_timezone      LowCardinality(String),
    lead_state         LowCardinality(String),
    dial_method        LowCardinality(String),
    attempt_no         UInt16,
    dialed_at          DateTime64(3, 'UTC'),
    ringing_at         Nullable(DateTime64(3, 'UTC')),
    answered_at        Nullable(DateTime64(3, 'UTC')),
    amd_at             Nullable(DateTime64(3, 'UTC')),
    connected_at       Nullable(DateTime64(3, 'UTC')),
    ended_at           Nullable(DateTime64(3, 'UTC')),
    wrap_ended_at      Nullable(DateTime64(3, 'UTC')),
    ring_s             Float32 COMMENT 'ringing (or dialed) -> answered (or ended)',
    wait_s             Float32 COMMENT 'answered -> agent connected (or hang-up when never connected)',
    talk_s             Float32 COMMENT 'agent connected -> ended',
    wrap_s             Float32 COMMENT 'ended -> wrap-up done',
    outcome            LowCardinality(String) COMMENT 'human|machine|busy|congestion|no_answer|failed|abandoned|cancelled',
    amd_verdict        LowCardinality(String),
    hangup_cause       UInt16 COMMENT 'Q.850 cause code',
    hangup_cause_txt   LowCardinality(String),
    dropped            UInt8 COMMENT 'answered by a person, no agent in time (16 CFR 310.4(b)(1)(iv) abandon)',
    safe_harbor_played UInt8,
    disposition_code   LowCardinality(String),
    is_contact         UInt8 COMMENT 'a person answered',
    is_sale            UInt8,
    is_dnc             UInt8,
    recording_id       String,
    version            UInt64 COMMENT 'grows with every change of the call attempt',
    sign               Int8 COMMENT '+1 state, -1 cancels an earlier state (VersionedCollapsingMergeTree)',
    INDEX idx_call_id call_id TYPE bloom_filter(0.001) GRANULARITY 4,
    INDEX idx_agent agent_id TYPE minmax GRANULARITY 4
)
ENGINE = VersionedCollapsingMergeTree(sign, version)
PARTITION BY toYYYYMM(dialed_at)
ORDER BY (campaign_id, dialed_at, call_id)
TTL toDateTime(dialed_at) + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1
