-- LAPI schema, version 2: beacons (registry and current state) and their fittings on vehicles.
-- The state columns mirror trackers.state.BeaconState and are written in the same transaction as
-- the pings they come from, so a restart resumes stop detection where it was.

CREATE TABLE beacons (
    id                  text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    label               text NOT NULL DEFAULT '',
    watched             boolean NOT NULL DEFAULT false,   -- alert when silent (also when fitted)
    silence_after_s     integer CHECK (silence_after_s > 0), -- NULL: trackers.silence_alert_after_s
    protocol            text,
    last_seen           timestamptz,
    fix_time            timestamptz,
    lat                 double precision,
    lon                 double precision,
    speed_kmh           real,
    heading             real,
    altitude_m          real,
    accuracy_m          real,
    battery_pct         real,
    moving              boolean,
    motion_since        timestamptz,
    anchor_time         timestamptz,
    anchor_lat          double precision,
    anchor_lon          double precision,
    silence_alerted_at  timestamptz,                       -- set when the silence alert went out
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Beacon X fitted on vehicle Y from fitted_from until fitted_to (NULL: still fitted).
-- A beacon is on one vehicle at a time; the store refuses overlapping periods.
CREATE TABLE beacon_fittings (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    beacon_id    text NOT NULL REFERENCES beacons (id),
    plate_norm   text NOT NULL CHECK (plate_norm ~ '^[A-Z0-9]{2,10}$'),
    plate_text   text NOT NULL,
    fitted_from  timestamptz NOT NULL,
    fitted_to    timestamptz,
    note         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (fitted_to IS NULL OR fitted_to > fitted_from)
);

CREATE INDEX beacon_fittings_plate ON beacon_fittings (plate_norm, fitted_from);
CREATE INDEX beacon_fittings_beacon ON beacon_fittings (beacon_id, fitted_from);
