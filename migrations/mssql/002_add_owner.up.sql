-- owner: the instance that registered a wait (NULL for the Node.js service's rows and for rows
-- created finished), so that ClearOwned clears only this instance's waits. Guarded like 001.
IF COL_LENGTH(N'dbo.process_store', N'owner') IS NULL
  ALTER TABLE dbo.process_store ADD owner VARCHAR(64) NULL;

-- For ExpirePendingBefore (status = 'PENDING' AND started_at < @cutoff) and ClearOwned
-- (owner = @owner AND status = 'PENDING', covered through INCLUDE). Dynamic SQL because the
-- batch is compiled before the ALTER above runs, when owner does not exist yet.
IF NOT EXISTS (SELECT 1 FROM sys.indexes
               WHERE name = N'IX_ProcessStore_Status_StartedAt' AND object_id = OBJECT_ID(N'dbo.process_store'))
  EXEC (N'CREATE INDEX IX_ProcessStore_Status_StartedAt ON dbo.process_store(status, started_at) INCLUDE (owner)');
