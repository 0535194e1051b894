-- LAPI schema, version 5: vehicle passes.  A tracked camera's reads of one vehicle, over many
-- consecutive frames, form one pass with a voted plate (lapi/consensus.py).  The frame reads stay
-- in plate_reads for audit, tied to their pass, but only the pass is matched against the
-- watchlists and alerted.
--
-- A pass's hit is raised once its running consensus is confident.  When the consensus changes
-- later, the same hit row is updated (or withdrawn), and consumers are told by a revision alert:
-- an outbox row whose revises_hit_id names the hit (its hit_id is NULL, so the one-alert-per-hit
-- join of hits and alert_outbox is unchanged).  Consumers key a pass hit by its hit_id; the
-- revision alert carries "revision" (2, 3, ...), "state" (updated or withdrawn) and
-- "revises_alert_id", the alert id of the hit's first alert.

CREATE TABLE passes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera_id        text NOT NULL REFERENCES cameras (id),
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    plate_text       text NOT NULL,
    plate_norm       text NOT NULL,
    country          text,
    plate_format     text,
    confidence       real NOT NULL,
    char_confidences real[] NOT NULL DEFAULT '{}',
    frames           integer NOT NULL CHECK (frames > 0),
    direction        text CHECK (direction IN ('approaching', 'receding', 'left_to_right', 'right_to_left', 'stationary')),
    bearing          real CHECK (bearing >= 0 AND bearing < 360),
    best_read_id     bigint,
    best_read_at     timestamptz,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    matched_norm     text,          -- the consensus its hits were last matched for (NULL: not matched yet)
    matched_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    CHECK (last_seen >= first_seen),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX passes_plate_time ON passes (plate_norm, first_seen DESC);
CREATE INDEX passes_camera_time ON passes (camera_id, first_seen DESC);
CREATE INDEX passes_open ON passes (camera_id) WHERE status = 'open';

ALTER TABLE plate_reads ADD COLUMN pass_id bigint;  -- no foreign key on the partitioned table: set with the pass, never changed
CREATE INDEX plate_reads_pass ON plate_reads (pass_id) WHERE pass_id IS NOT NULL;

ALTER TABLE hits
    ADD COLUMN pass_id bigint REFERENCES passes (id),
    ADD COLUMN withdrawn_at timestamptz;   -- the pass's consensus no longer matches this entry
CREATE UNIQUE INDEX hits_pass_entry ON hits (pass_id, entry_id) WHERE pass_id IS NOT NULL;

ALTER TABLE alert_outbox
    ALTER COLUMN hit_id DROP NOT NULL,
    ADD COLUMN revises_hit_id bigint REFERENCES hits (id),
    ADD CONSTRAINT alert_outbox_hit_or_revision CHECK (hit_id IS NULL OR revises_hit_id IS NULL);
CREATE INDEX alert_outbox_revisions ON alert_outbox (revises_hit_id) WHERE revises_hit_id IS NOT NULL;
