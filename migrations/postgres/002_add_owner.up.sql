-- owner: the instance that registered a wait (NULL for rows created finished), so that
-- ClearOwned clears only this instance's waits.
ALTER TABLE process_store ADD COLUMN IF NOT EXISTS owner TEXT NULL;

-- For ExpirePendingBefore (status = 'PENDING' AND started_at < $1) and ClearOwned
-- (owner = $1 AND status = 'PENDING', covered through INCLUDE).
CREATE INDEX IF NOT EXISTS ix_process_store_status_started_at
  ON process_store (status, started_at) INCLUDE (owner);
