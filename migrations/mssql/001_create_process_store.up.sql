-- process_store as the Node.js service created it (its migrations/001_create_process_store.sql),
-- column for column. Every statement is guarded, so a database where someone already ran the
-- Node.js service's script by hand is adopted: this migration then changes nothing and is recorded
-- as done. golang-migrate runs the whole file as one batch: no GO separators.
IF OBJECT_ID(N'dbo.process_store', N'U') IS NULL
BEGIN
  CREATE TABLE dbo.process_store (
    correlation_id  VARCHAR(64) NOT NULL PRIMARY KEY,
    status          VARCHAR(16) NOT NULL,         -- 'PENDING'|'DONE'|'ERROR'
    payload_json    NVARCHAR(MAX) NULL,
    error_json      NVARCHAR(MAX) NULL,
    started_at      DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME(),
    updated_at      DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME()
  );
END;

IF NOT EXISTS (SELECT 1 FROM sys.indexes
               WHERE name = N'IX_ProcessStore_Status' AND object_id = OBJECT_ID(N'dbo.process_store'))
  CREATE INDEX IX_ProcessStore_Status ON dbo.process_store(status);

IF NOT EXISTS (SELECT 1 FROM sys.indexes
               WHERE name = N'IX_ProcessStore_UpdatedAt' AND object_id = OBJECT_ID(N'dbo.process_store'))
  CREATE INDEX IX_ProcessStore_UpdatedAt ON dbo.process_store(updated_at);
