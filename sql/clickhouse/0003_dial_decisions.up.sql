-- Every pacing decision with the inputs it was made from (why did the dialer place N calls?).
-- ReplacingMergeTree on decision_id: a decision logged twice collapses to one row on merge.
CREATE TABLE IF NOT EXISTS {db}.dial_decisions
(
    decision_id          UUID,
    at                   DateTime64(3, 'UTC'),
    campaign_id          UInt32,
    algorithm            LowCardinality(String),
    agents_logged_in     UInt16,
    agents_idle          UInt16,
    agents_busy          UInt16,
    calls_ringing        UInt16,
    calls_waiting        UInt16,
    dial_level           Float32,
    calls_placed         UInt16,
    capped_by            LowCardinality(String) COMMENT 'what limited calls_placed: "" | abandon_guard | trunks | hopper | max_level ...',
    est_answer_rate      Float32,
    est_abandon_rate     Float32,
    target_abandon_rate  Float32,
    guard_active         UInt8,
    hopper_depth         UInt32,
    extra                String COMMENT 'JSON object with algorithm-specific inputs'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(at)
ORDER BY (campaign_id, at, decision_id)
TTL toDateTime(at) + INTERVAL 90 DAY DELETE
SETTINGS ttl_only_drop_parts = 1
