-- LAPI schema, version 3: named watchlists with their match threshold, entries as patterns with
-- purpose and validity, an append-only log of every watchlist change, the hit lifecycle, and the
-- alert outbox with per-destination delivery state.
--
-- Writers serialise on advisory locks so that identity ids are committed in increasing order:
-- a reader that has seen every id up to N never sees a smaller one appear later.  The store
-- follows the change log (and consumers the outbox) by "id > last seen" on that guarantee.

CREATE FUNCTION lapi_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

-- lists ----------------------------------------------------------------------------------------
CREATE TABLE watchlists (
    name         text PRIMARY KEY CHECK (name <> '' AND length(name) <= 100),
    max_cost     numeric(4,2) NOT NULL DEFAULT 0.8 CHECK (max_cost >= 0 AND max_cost < 2),  -- max lookalike-weighted edit cost
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT ''
);

INSERT INTO watchlists (name) SELECT DISTINCT left(list_name, 100) FROM watchlist_entries WHERE list_name <> '';
UPDATE watchlist_entries SET list_name = 'default' WHERE list_name = '';
UPDATE watchlist_entries SET list_name = left(list_name, 100) WHERE length(list_name) > 100;
INSERT INTO watchlists (name) SELECT 'default' WHERE NOT EXISTS (SELECT 1 FROM watchlists WHERE name = 'default');

-- entries: plate_norm now holds a normalised pattern (A-Z0-9, '?' one character, '*' any run) -----
ALTER TABLE watchlist_entries DROP CONSTRAINT watchlist_entries_plate_norm_check;
ALTER TABLE watchlist_entries
    ADD CONSTRAINT watchlist_entries_pattern CHECK (plate_norm ~ '^[A-Z0-9?*]{1,30}$'),
    ADD COLUMN kind text GENERATED ALWAYS AS (CASE WHEN plate_norm ~ '[?*]' THEN 'wildcard' ELSE 'exact' END) STORED,
    ADD COLUMN legal_purpose text NOT NULL DEFAULT '',
    ADD COLUMN valid_from   timestamptz,
    ADD COLUMN valid_until  timestamptz,
    ADD COLUMN note         text NOT NULL DEFAULT '',
    ADD COLUMN source       text NOT NULL DEFAULT '',
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by   text NOT NULL DEFAULT '',
    ADD CONSTRAINT watchlist_entries_validity CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from),
    ADD CONSTRAINT watchlist_entries_list FOREIGN KEY (list_name) REFERENCES watchlists (name) ON UPDATE CASCADE;
ALTER TABLE watchlist_entries ALTER COLUMN list_name DROP DEFAULT;
CREATE INDEX watchlist_entries_list ON watchlist_entries (list_name, id);

-- change log: one row per inserted, updated or deleted list or entry, written by triggers so no
-- path can change a watchlist unlogged.  "Who" is the transaction's lapi.actor setting. ----------
CREATE TABLE watchlist_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text NOT NULL DEFAULT '',
    entity      text NOT NULL CHECK (entity IN ('list', 'entry')),
    action      text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    list_name   text NOT NULL,
    entry_id    bigint,            -- no foreign key: the history outlives the entry
    before      jsonb,
    after       jsonb
);
CREATE INDEX watchlist_changes_entry ON watchlist_changes (entry_id, id) WHERE entry_id IS NOT NULL;
CREATE INDEX watchlist_changes_list ON watchlist_changes (list_name, id);

CREATE TRIGGER watchlist_changes_append_only BEFORE UPDATE OR DELETE ON watchlist_changes
    FOR EACH ROW EXECUTE FUNCTION lapi_append_only();
CREATE TRIGGER watchlist_changes_no_truncate BEFORE TRUNCATE ON watchlist_changes
    FOR EACH STATEMENT EXECUTE FUNCTION lapi_append_only();

CREATE FUNCTION lapi_log_watchlist_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    row_ jsonb := coalesce(new_row, old_row);
BEGIN
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(1741057);   -- change ids commit in order (see the top of this file)
    INSERT INTO watchlist_changes (changed_by, entity, action, list_name, entry_id, before, after)
    VALUES (coalesce(nullif(current_setting('lapi.actor', true), ''), current_user),
            CASE WHEN TG_TABLE_NAME = 'watchlists' THEN 'list' ELSE 'entry' END, lower(TG_OP),
            CASE WHEN TG_TABLE_NAME = 'watchlists' THEN row_ ->> 'name' ELSE row_ ->> 'list_name' END,
            CASE WHEN TG_TABLE_NAME = 'watchlists' THEN NULL ELSE (row_ ->> 'id')::bigint END,
            old_row, new_row);
    PERFORM pg_notify('lapi_watchlist', '');   -- one per transaction: identical notifications fold
    RETURN NULL;
END $$;

CREATE TRIGGER watchlists_log AFTER INSERT OR UPDATE OR DELETE ON watchlists
    FOR EACH ROW EXECUTE FUNCTION lapi_log_watchlist_change();
CREATE TRIGGER watchlist_entries_log AFTER INSERT OR UPDATE OR DELETE ON watchlist_entries
    FOR EACH ROW EXECUTE FUNCTION lapi_log_watchlist_change();

-- hits: how they matched, and the analyst's decision ------------------------------------------
ALTER TABLE hits
    ADD COLUMN cost             numeric(6,2) NOT NULL DEFAULT 0,
    ADD COLUMN read_confidence  real,
    ADD COLUMN pattern          text,          -- the entry's pattern when the hit was made
    ADD COLUMN category         text NOT NULL DEFAULT '',
    ADD COLUMN priority         smallint NOT NULL DEFAULT 1,
    ADD COLUMN status           text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'confirmed', 'rejected')),
    ADD COLUMN decided_by       text,
    ADD COLUMN decided_at       timestamptz,
    ADD COLUMN decision_reason  text,
    ADD CONSTRAINT hits_decision CHECK ((status = 'new') = (decided_at IS NULL)
                                        AND (status = 'new') = (decided_by IS NULL));
UPDATE hits h SET read_confidence = r.confidence FROM plate_reads r WHERE r.id = h.read_id AND r.read_at = h.read_at;
UPDATE hits h SET pattern = e.plate_norm, category = e.category, priority = e.priority
    FROM watchlist_entries e WHERE e.id = h.entry_id;
CREATE INDEX hits_status ON hits (status, id DESC);
CREATE INDEX hits_list ON hits (list_name, id DESC);

-- alert outbox: one row per hit, committed with it; its id is the alert id consumers see ------
CREATE TABLE alert_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hit_id      bigint NOT NULL UNIQUE REFERENCES hits (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    list_name   text NOT NULL,
    category    text NOT NULL,
    camera_id   text NOT NULL,
    priority    smallint NOT NULL,
    payload     jsonb NOT NULL
);
CREATE TRIGGER alert_outbox_append_only BEFORE UPDATE OR DELETE ON alert_outbox
    FOR EACH ROW EXECUTE FUNCTION lapi_append_only();

-- delivery to each configured destination (webhook:<name>, mqtt:<name>) ----------------------
CREATE TABLE alert_cursors (            -- last outbox id fanned out to the destination
    destination  text PRIMARY KEY,
    last_id      bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_deliveries (
    destination      text NOT NULL,
    alert_id         bigint NOT NULL REFERENCES alert_outbox (id),
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    dead_at          timestamptz,               -- dead-lettered: attempts exhausted
    last_error       text,
    PRIMARY KEY (destination, alert_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (destination, next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_dead ON alert_deliveries (destination, alert_id) WHERE state = 'dead';
