-- LAPI schema, version 9: the days each plate was read on (issue 10, docs/scaling.md).
--
-- A plate history over 90 days probed the (plate, time) index of all 90 day partitions (chunks),
-- one index descent each, most finding nothing: a vehicle is read on a few days of the window.
-- At 50 million reads those descents missed the cache and the history p99 was 104 ms
-- (lapi bench store).  plate_days says on which UTC days a plate has reads, so the history
-- query (Store.sightings) visits only those days' partitions.
--
-- Every write path fills it through one statement trigger (COPY included); retention erases a
-- plate's day when no read of it is left that day (lapi/store/retention.py): it is personal data
-- under the same rules as the reads.  On TimescaleDB, statement triggers with transition tables
-- on hypertables need TimescaleDB 2.18 or newer.

-- [both]
CREATE TABLE plate_days (
    plate_norm  text NOT NULL,
    day         date NOT NULL,          -- UTC day, as partitions and chunks are cut
    PRIMARY KEY (plate_norm, day)
);
CREATE INDEX plate_days_day ON plate_days (day);

-- Rows in key order: two writers noting overlapping days wait on each other in the same order,
-- never in a cycle.
CREATE FUNCTION note_plate_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO plate_days (plate_norm, day)
    SELECT DISTINCT plate_norm, (read_at AT TIME ZONE 'UTC')::date FROM new_reads ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER plate_reads_note_days AFTER INSERT ON plate_reads
    REFERENCING NEW TABLE AS new_reads FOR EACH STATEMENT EXECUTE FUNCTION note_plate_days();

INSERT INTO plate_days (plate_norm, day)
SELECT DISTINCT plate_norm, (read_at AT TIME ZONE 'UTC')::date FROM plate_reads ORDER BY 1, 2;
