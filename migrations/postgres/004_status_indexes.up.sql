-- For DeleteFinishedBefore (status IN ('DONE', 'ERROR') AND updated_at < $1), the same index
-- as SQL Server's IX_ProcessStore_Status_UpdatedAt. A plain CREATE INDEX, which blocks writes
-- to the table while it builds: CONCURRENTLY cannot run inside the transaction a migration
-- file runs in, and a failed concurrent build leaves an invalid index that IF NOT EXISTS
-- would then keep. Tables this project creates are cleaned by retention from the start.
-- The (status) index of 001 stays: no other service created it, and dropping it gains little.
CREATE INDEX IF NOT EXISTS ix_process_store_status_updated_at ON process_store (status, updated_at);
