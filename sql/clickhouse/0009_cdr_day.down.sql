DROP VIEW IF EXISTS {db}.cdr_day_mv;
DROP TABLE IF EXISTS {db}.cdr_day
