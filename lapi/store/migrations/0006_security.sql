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
