-- Transcribed speech: one row per utterance of a call, with sentiment (-1 .. 1).
CREATE TABLE IF NOT EXISTS {db}.utterances
(
    call_id      UUID,
    seq          UInt32 COMMENT 'order within the call',
    speaker      LowCardinality(String) COMMENT 'agent|customer',
    started_s    Float32 COMMENT 'seconds from the start of the call audio',
    ended_s      Float32,
    text         String,
    sentiment    Float32,
    redacted     UInt8 COMMENT 'PII/PCI was removed from text',
    campaign_id  UInt32,
    agent_id     UInt32,
    at           DateTime64(3, 'UTC') COMMENT 'wall-clock time of the utterance start',
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(at)
ORDER BY (campaign_id, toDate(at), call_id, seq)
TTL toDateTime(at) + INTERVAL 13 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1
