DROP VIEW IF EXISTS {db}.cdr_minute_mv;
DROP TABLE IF EXISTS {db}.cdr_minute
