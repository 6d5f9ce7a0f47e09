-- The start protocol (one process instance per correlation id) and the replicas' heartbeats.
-- Every column is nullable, so adding it changes only metadata, and rows written by the
-- Node.js service or the waitroom library stay valid: a row without process_key is only
-- waited on, never started. Guarded like 001 and 002.
--   process_key          the process definition key the row was registered for by a start
--                        (VARCHAR(255), like the engine's KEY_)
--   process_instance_id  the engine's instance id, once the start answered (the engine's ID_)
--   start_attempt        the start claim's number (1 for the creator, +1 per takeover): the
--                        fencing token of a takeover
--   start_lease_until    the current claim holds until then (SYSUTCDATETIME())
IF COL_LENGTH(N'dbo.process_store', N'process_key') IS NULL
  ALTER TABLE dbo.process_store ADD process_key VARCHAR(255) NULL;
IF COL_LENGTH(N'dbo.process_store', N'process_instance_id') IS NULL
  ALTER TABLE dbo.process_store ADD process_instance_id VARCHAR(64) NULL;
IF COL_LENGTH(N'dbo.process_store', N'start_attempt') IS NULL
  ALTER TABLE dbo.process_store ADD start_attempt BIGINT NULL;
IF COL_LENGTH(N'dbo.process_store', N'start_lease_until') IS NULL
  ALTER TABLE dbo.process_store ADD start_lease_until DATETIME2(3) NULL;

-- One row per running replica, beaten every second or so; a survivor unlocks the engine tasks
-- of a replica whose beat is stale. A new table, so its key gets a binary collation: worker
-- ids compare byte for byte, and the primary key seeks with the parameter as it is.
IF OBJECT_ID(N'dbo.process_store_heartbeat', N'U') IS NULL
BEGIN
  CREATE TABLE dbo.process_store_heartbeat (
    worker_id   VARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    started_at  DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME(),
    beat_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME()
  );
END;
