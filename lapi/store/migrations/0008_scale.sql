-- LAPI schema, version 8: national-scale history (issue 10, docs/scaling.md).
--
-- Two engines, one schema for the API: the lines under "-- [plain]" run on plain PostgreSQL, those
-- under "-- [timescale]" when the TimescaleDB extension is in use (lapi/store/migrations.py).

-- [both]
-- The foreign key from each read to its camera was checked row by row (a trigger per row): at
-- bulk-ingest rates it cost about a third of COPY's throughput (lapi bench store).  Every writer
-- looks the camera up first (Store.get_camera: an unknown camera is a 404 before anything is
-- written) and cameras are never deleted, so the check is the writers' from now on.
ALTER TABLE plate_reads DROP CONSTRAINT IF EXISTS plate_reads_camera_id_fkey;

-- Reads per camera per hour: traffic counts, no plate in them, kept when the reads themselves
-- are erased by retention.  Read by GET /v1/traffic/hourly (lapi/store/camera_hours.py) the same
-- way on both engines.

-- [plain]
-- BRIN on time: a few kB per partition, lets scans by time range skip the blocks of other hours
-- (rows arrive in time order, so block ranges follow time).
CREATE INDEX plate_reads_time_brin ON plate_reads USING brin (read_at) WITH (pages_per_range = 32);
CREATE INDEX beacon_pings_time_brin ON beacon_pings USING brin (fix_time) WITH (pages_per_range = 32);

-- The summary table the service refreshes (lapi/store/camera_hours.py) from a watermark.
CREATE TABLE camera_hour_counts (
    camera_id  text NOT NULL,
    hour       timestamptz NOT NULL,
    reads      bigint NOT NULL,
    PRIMARY KEY (camera_id, hour)
);
CREATE INDEX camera_hour_counts_hour ON camera_hour_counts (hour);
CREATE TABLE camera_hour_refresh (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    refreshed_to  timestamptz        -- every complete hour before this is in the table (NULL: none yet)
);
INSERT INTO camera_hour_refresh (refreshed_to) VALUES (NULL);

-- [timescale]
-- A continuous aggregate with real-time aggregation (materialized hours plus the newest ones
-- computed on the fly); its refresh policy is set at start-up (lapi/store/timescale.py).
CREATE MATERIALIZED VIEW camera_hour_counts
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT camera_id, time_bucket(INTERVAL '1 hour', read_at) AS hour, count(*) AS reads
    FROM plate_reads GROUP BY camera_id, time_bucket(INTERVAL '1 hour', read_at)
    WITH NO DATA;

-- Compression of chunks older than store.compress_after (policy set at start-up): reads
-- segmented by camera and ordered by plate inside a segment, so a plate history reads only the
-- compressed batches whose plate range holds the plate; pings segmented by beacon.
ALTER TABLE plate_reads SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id',
                             timescaledb.compress_orderby = 'plate_norm, read_at DESC, id');
ALTER TABLE beacon_pings SET (timescaledb.compress, timescaledb.compress_segmentby = 'beacon_id',
                              timescaledb.compress_orderby = 'fix_time DESC');
-- [both]
