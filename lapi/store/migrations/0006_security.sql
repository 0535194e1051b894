-- LAPI schema, version 6: API tokens (access control).
--
-- A token is stored as the SHA-256 of its secret; the secret itself is shown once when the
-- token is made (lapi token create) and never stored.

CREATE TABLE api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    principal     text NOT NULL CHECK (principal <> '' AND length(principal) <= 100),
    role          text NOT NULL CHECK (role IN ('camera', 'beacon', 'analyst', 'supervisor', 'consumer', 'admin')),
    habilitation  text NOT NULL DEFAULT '' CHECK (length(habilitation) <= 200),
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL DEFAULT '',
    expires_at    timestamptz,
    revoked_at    timestamptz,
    revoked_by    text,
    CHECK (role NOT IN ('analyst', 'supervisor') OR habilitation <> ''),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX api_tokens_principal ON api_tokens (principal, id);

-- The audit log: every consultation, export, alteration, disclosure (alert delivery) and erasure
-- (retention), who made it under which habilitation, when, why (procedure reference), with the
-- query's parameters and the number of results, never the results themselves.
-- Append-only twice over: the service role loses UPDATE, DELETE and TRUNCATE (run the service as a
-- role that does not own the table and grant it only SELECT, INSERT: see docs/security.md), and
-- triggers refuse them to everyone, owner included.
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    principal      text NOT NULL,
    role           text NOT NULL,
    habilitation   text NOT NULL DEFAULT '',
    token_id       bigint,
    action         text NOT NULL CHECK (action IN ('consultation', 'export', 'alteration', 'disclosure', 'erasure')),
    operation      text NOT NULL,          -- e.g. 'GET /v1/vehicles/{plate}/sightings', 'retention'
    justification  text,                   -- procedure reference (or other justification) given
    parameters     jsonb NOT NULL DEFAULT '{}',
    result_count   bigint,
    status         smallint                -- HTTP status of the answer
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_principal ON audit_log (principal, id);
CREATE INDEX audit_log_justification ON audit_log (justification, id) WHERE justification IS NOT NULL;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION lapi_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION lapi_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;

-- Retention (lapi/retention.py): reads that matched nothing are kept 15 days, hit reads one month,
-- unless a hold attaches them to a procedure: a read itself, or a plate over a time window, until
-- the hold's own expiry.  The retention job erases the rest, with the hits and alerts of erased
-- hit reads (an alert carries the plate) and the passes left without reads.
CREATE TABLE procedure_holds (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    procedure     text NOT NULL CHECK (procedure <> '' AND length(procedure) <= 200),
    read_id       bigint,
    read_at       timestamptz,
    plate_norm    text CHECK (plate_norm ~ '^[A-Z0-9]{2,10}$'),
    window_start  timestamptz,
    window_end    timestamptz,
    expires_at    timestamptz NOT NULL,
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    habilitation  text NOT NULL DEFAULT '',
    released_at   timestamptz,
    released_by   text,
    CHECK ((read_id IS NOT NULL AND read_at IS NOT NULL AND plate_norm IS NULL AND window_start IS NULL AND window_end IS NULL)
           OR (read_id IS NULL AND read_at IS NULL AND plate_norm IS NOT NULL AND window_end > window_start))
);
CREATE INDEX procedure_holds_read ON procedure_holds (read_at, read_id) WHERE read_id IS NOT NULL;
CREATE INDEX procedure_holds_plate ON procedure_holds (plate_norm, window_start) WHERE plate_norm IS NOT NULL;
CREATE INDEX procedure_holds_procedure ON procedure_holds (procedure, id);

-- The outbox stays append-only, except for the retention job's erasures (it sets lapi.erasure).
CREATE FUNCTION lapi_append_only_but_retention() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('lapi.erasure', true) = 'retention' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only (only the retention job erases from it)', TG_TABLE_NAME;
END $$;
DROP TRIGGER alert_outbox_append_only ON alert_outbox;
CREATE TRIGGER alert_outbox_append_only BEFORE UPDATE OR DELETE ON alert_outbox
    FOR EACH ROW EXECUTE FUNCTION lapi_append_only_but_retention();
CREATE INDEX hits_pass ON hits (pass_id) WHERE pass_id IS NOT NULL;
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);

-- Idempotent frames: a camera may name each frame (Idempotency-Key header or frame_id parameter).
-- The key is written by the statement that stores the frame's reads (lapi/store/frames.py), so a
-- frame is stored with its key or not at all; a retry after a lost answer meets the key, stores
-- nothing and gets the original reads back.  Pings need no such table: (beacon_id, fix_time) is
-- their primary key, a resent fix is a duplicate.
CREATE TABLE frame_keys (
    camera_id   text NOT NULL,
    frame_key   text NOT NULL CHECK (frame_key <> '' AND length(frame_key) <= 200),
    read_at     timestamptz NOT NULL,
    read_ids    bigint[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, frame_key)
);
CREATE INDEX frame_keys_read_at ON frame_keys (read_at);
