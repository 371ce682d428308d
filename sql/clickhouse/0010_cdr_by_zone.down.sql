DROP VIEW IF EXISTS {db}.cdr_by_zone_mv;
DROP TABLE IF EXISTS {db}.cdr_by_zone
