-- owner: the instance that registered a wait (NULL for rows created finished), so that
-- ClearOwned clears only this instance's waits. SQLite has no ADD COLUMN IF NOT EXISTS; the
-- runner applies each migration inside one BEGIN IMMEDIATE transaction after re-reading the
-- version, so two processes never both run this statement.
ALTER TABLE process_store ADD COLUMN owner TEXT NULL;

-- For ExpirePendingBefore (status = 'PENDING' AND started_at < ?) and ClearOwned.
CREATE INDEX IF NOT EXISTS ix_process_store_status_started_at ON process_store (status, started_at);
