-- LAPI schema, version 1: cameras, plate reads, beacon pings, watchlist entries, hits.
-- Time-series tables (plate_reads, beacon_pings) are range-partitioned by day here; when the
-- TimescaleDB extension is present the migration runner turns them into hypertables instead.

CREATE TABLE cameras (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    name        text NOT NULL DEFAULT '',
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    heading     real CHECK (heading >= 0 AND heading < 360),
    road        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plate_reads (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    read_at          timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    camera_id        text NOT NULL REFERENCES cameras (id),
    plate_text       text NOT NULL,
    plate_norm       text NOT NULL,
    country          text,                 -- country of the plate format the read fits (NULL: none)
    plate_format     text,
    confidence       real NOT NULL,
    char_confidences real[] NOT NULL DEFAULT '{}',
    box_x            integer NOT NULL,
    box_y            integer NOT NULL,
    box_w            integer NOT NULL,
    box_h            integer NOT NULL,
    detector_score   real NOT NULL,
    crop_jpeg        bytea,
    lat              double precision,
    lon              double precision,
    heading          real,
    PRIMARY KEY (read_at, id)
) PARTITION BY RANGE (read_at);

CREATE INDEX plate_reads_plate_time ON plate_reads (plate_norm, read_at DESC);
CREATE INDEX plate_reads_camera_time ON plate_reads (camera_id, read_at DESC);

CREATE TABLE beacon_pings (
    beacon_id    text NOT NULL,
    fix_time     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    lat          double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon          double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    speed_kmh    real,
    heading      real,
    altitude_m   real,
    accuracy_m   real,
    battery_pct  real,
    PRIMARY KEY (beacon_id, fix_time)
) PARTITION BY RANGE (fix_time);

CREATE TABLE watchlist_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list_name   text NOT NULL DEFAULT 'default',
    plate_norm  text NOT NULL CHECK (plate_norm ~ '^[A-Z0-9]{2,10}$'),
    plate_text  text NOT NULL,
    category    text NOT NULL DEFAULT '',
    reason      text NOT NULL DEFAULT '',
    priority    smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 1 AND 5),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT '',
    UNIQUE (list_name, plate_norm)
);

CREATE INDEX watchlist_plate ON watchlist_entries (plate_norm);

CREATE TABLE hits (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    read_id     bigint NOT NULL,
    read_at     timestamptz NOT NULL,
    camera_id   text NOT NULL,
    plate_norm  text NOT NULL,
    entry_id    bigint REFERENCES watchlist_entries (id) ON DELETE SET NULL,
    list_name   text NOT NULL,
    match_type  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX hits_read ON hits (read_at, read_id);
CREATE INDEX hits_created ON hits (created_at DESC);
