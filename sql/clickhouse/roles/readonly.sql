-- Read-only access for data teams on a real ClickHouse server (chdb has no access control; the
-- embedded analytics.server enforces its own --readonly-user instead, see docs/analytics.md).
-- Applied by `python -m analytics.schema roles --readonly-password-file FILE`; {db} is the
-- analytics database and {password} the read-only user's password (sha256 stored server-side).
CREATE ROLE IF NOT EXISTS pydialer_readonly;
GRANT SELECT ON {db}.* TO pydialer_readonly;
-- Profile: read-only queries (settings may still be changed per query: readonly = 2), bounded.
CREATE SETTINGS PROFILE IF NOT EXISTS pydialer_readonly_profile
    SETTINGS readonly = 2,
             max_execution_time = 60,
             max_memory_usage = 4000000000,
             max_result_rows = 1000000,
             max_threads = 4
    TO pydialer_readonly;
CREATE QUOTA IF NOT EXISTS pydialer_readonly_quota
    FOR INTERVAL 1 hour MAX queries = 2000, errors = 200, result_rows = 100000000, read_rows = 20000000000, execution_time = 3600
    TO pydialer_readonly;
CREATE USER IF NOT EXISTS pydialer_analyst IDENTIFIED WITH sha256_password BY '{password}'
    DEFAULT ROLE pydialer_readonly
    SETTINGS PROFILE 'pydialer_readonly_profile';
GRANT pydialer_readonly TO pydialer_analyst
