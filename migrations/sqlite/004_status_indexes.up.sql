-- For DeleteFinishedBefore (status IN ('DONE', 'ERROR') AND updated_at < ?), the same index
-- as SQL Server's IX_ProcessStore_Status_UpdatedAt.
CREATE INDEX IF NOT EXISTS ix_process_store_status_updated_at ON process_store (status, updated_at);
