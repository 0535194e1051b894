-- LAPI schema, version 9: plates, camera ids and beacon ids compared byte by byte (COLLATE "C").
--
-- Why: every read puts its plate and its camera into B-tree indexes (plate + time, camera + time),
-- every ping its beacon, and each insertion compares its key with a few dozen others.  Under the
-- database's linguistic collation (C.UTF-8, fr_FR.UTF-8, an ICU locale) each comparison copies both
-- strings and calls strcoll; under "C" it is one memcmp.  These columns hold only A-Z0-9 plates and
-- ASCII identifiers, whose byte order is their natural order: equality is unchanged and so is
-- every ordering on C.UTF-8 (code-point order).  Measured (docs/benchmarks.md, 2026-12-07): a
-- million rows into a table with plate_reads' three B-trees took 5.4-5.9 s under "C" against
-- 6.9-7.0 s under C.UTF-8 and 6.7-8.2 s under fr-FR-x-icu.
--
-- Every column compared with another of the list in SQL changes with it (a join of a "C" column
-- with a column of the default collation would have no collation to compare in).  Watchlist
-- entries keep theirs: they hold patterns ("AB*"), are matched in Python (lapi/matching.py), and a
-- generated column reads them.  The indexes on these columns are rebuilt in every partition, no
-- row is rewritten; on a large existing database that holds the tables' locks for as long as the
-- rebuild takes: run it in a maintenance window.
--
-- Plain PostgreSQL only.  On TimescaleDB a column used by the continuous aggregate (camera_id) or
-- of a hypertable with compression enabled cannot change type; create that database with
-- LC_COLLATE 'C' (or LOCALE 'C') for the same effect (docs/scaling.md).

-- [plain]
ALTER TABLE cameras ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE plate_reads
    ALTER COLUMN camera_id TYPE text COLLATE "C",
    ALTER COLUMN plate_norm TYPE text COLLATE "C";
ALTER TABLE camera_hour_counts ALTER COLUMN camera_id TYPE text COLLATE "C";
ALTER TABLE hits
    ALTER COLUMN camera_id TYPE text COLLATE "C",
    ALTER COLUMN plate_norm TYPE text COLLATE "C";
ALTER TABLE passes
    ALTER COLUMN camera_id TYPE text COLLATE "C",
    ALTER COLUMN plate_norm TYPE text COLLATE "C",
    ALTER COLUMN matched_norm TYPE text COLLATE "C";
ALTER TABLE frame_keys ALTER COLUMN camera_id TYPE text COLLATE "C";
ALTER TABLE alert_outbox ALTER COLUMN camera_id TYPE text COLLATE "C";
ALTER TABLE procedure_holds ALTER COLUMN plate_norm TYPE text COLLATE "C";
ALTER TABLE beacons ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE beacon_pings ALTER COLUMN beacon_id TYPE text COLLATE "C";
ALTER TABLE beacon_fittings
    ALTER COLUMN beacon_id TYPE text COLLATE "C",
    ALTER COLUMN plate_norm TYPE text COLLATE "C";
-- [both]
