-- How each API client presents itself on the hosted link and enrolment pages: the app's name,
-- privacy policy, the page people go back to, and a logo (a PNG, JPEG or WebP image of at most
-- 128 KiB, checked before it is stored, served by Coupler with its own content type).
CREATE TABLE client_branding (
    client_id           TEXT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    app_name            TEXT,
    privacy_policy_url  TEXT,
    return_url          TEXT,
    logo                BYTEA,
    logo_type           TEXT,
    logo_size           BIGINT,
    logo_sha256         TEXT,
    updated_at          TIMESTAMPTZ NOT NULL
);
