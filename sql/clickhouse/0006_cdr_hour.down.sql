DROP VIEW IF EXISTS {db}.cdr_day_disposition_mv;
DROP TABLE IF EXISTS {db}.cdr_day_disposition;
DROP VIEW IF EXISTS {db}.cdr_hour_mv;
DROP TABLE IF EXISTS {db}.cdr_hour
