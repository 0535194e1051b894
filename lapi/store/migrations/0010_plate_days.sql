-- LAPI schema, version 10: the days each plate was read on (lapi/store/plate_days.py says why and
-- how it stays exact).  Plain tables on both engines: a history looks its plate up here once, then
-- scans the day partitions (or chunks) of those days only.

-- One row per plate and UTC day it was read on, for the summarised days.
CREATE TABLE plate_days (
    plate_norm text COLLATE "C" NOT NULL,
    day        date NOT NULL,
    PRIMARY KEY (plate_norm, day)
);
-- retention drops one day's rows; rows arrive a day at a time, so block ranges follow the day
CREATE INDEX plate_days_day_brin ON plate_days USING brin (day) WITH (pages_per_range = 32);

-- The days plate_days covers; a history scans the other days of its window directly.
CREATE TABLE plate_day_summaries (
    day            date PRIMARY KEY,
    summarised_at  timestamptz NOT NULL DEFAULT now()
);

-- Days written to after they closed (one row per writing transaction, never updated, so writers
-- never wait on each other): scanned directly until summarised again.
CREATE TABLE plate_day_late (
    day date NOT NULL
);
CREATE INDEX plate_day_late_day ON plate_day_late (day);
