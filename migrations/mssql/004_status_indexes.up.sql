-- Indexes for retention, and one duplicate less. Every statement is guarded like 001 and
-- 002, so a database where someone already did either by hand is adopted, and running the
-- file again after a failure (worker migrate force 3, then up) redoes only what is missing.
-- golang-migrate runs the whole file as one batch: no GO separators.

-- IX_ProcessStore_Status_UpdatedAt serves DeleteFinishedBefore (status IN ('DONE', 'ERROR')
-- AND updated_at < @cutoff). It is built online where the edition can (SERVERPROPERTY
-- ('EngineEdition') 3: Enterprise, Developer, Evaluation; 5: Azure SQL Database; 8: Azure
-- SQL Managed Instance), so the old service's reads and writes go on while it builds, and
-- offline elsewhere (Standard, Express), where the build blocks writes to the table until it
-- ends. Either way it waits for a moment without other queries on the table to start and to
-- finish (schema locks). Dynamic SQL because ONLINE takes no variable.
IF NOT EXISTS (SELECT 1 FROM sys.indexes
               WHERE name = N'IX_ProcessStore_Status_UpdatedAt' AND object_id = OBJECT_ID(N'dbo.process_store'))
BEGIN
  DECLARE @online NVARCHAR(3) =
    CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS INT) IN (3, 5, 8) THEN N'ON' ELSE N'OFF' END;
  EXEC (N'CREATE INDEX IX_ProcessStore_Status_UpdatedAt ON dbo.process_store(status, updated_at) WITH (ONLINE = ' + @online + N')');
END;

-- IX_ProcessStore_Status (status), from the Node.js service's script and 001, duplicates
-- the leading column of 002's IX_ProcessStore_Status_StartedAt (status, started_at): every
-- seek on status can use the wider index, and each index costs every write. It is dropped
-- only when it still has exactly the shape that script created (non-unique, nonclustered,
-- unfiltered, one column: status) and the wider index exists and leads with status; an index
-- someone changed is left alone. Dropping a nonclustered index changes metadata only, after
-- a moment without other queries on the table.
IF EXISTS (SELECT 1 FROM sys.indexes i
           WHERE i.name = N'IX_ProcessStore_Status' AND i.object_id = OBJECT_ID(N'dbo.process_store')
             AND i.type = 2 AND i.is_unique = 0 AND i.has_filter = 0
             AND (SELECT COUNT(*) FROM sys.index_columns ic
                  WHERE ic.object_id = i.object_id AND ic.index_id = i.index_id) = 1
             AND EXISTS (SELECT 1 FROM sys.index_columns ic
                         JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
                         WHERE ic.object_id = i.object_id AND ic.index_id = i.index_id
                           AND ic.key_ordinal = 1 AND c.name = N'status'))
   AND EXISTS (SELECT 1 FROM sys.indexes w
               JOIN sys.index_columns ic ON ic.object_id = w.object_id AND ic.index_id = w.index_id AND ic.key_ordinal = 1
               JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
               WHERE w.name = N'IX_ProcessStore_Status_StartedAt' AND w.object_id = OBJECT_ID(N'dbo.process_store')
                 AND c.name = N'status')
  DROP INDEX IX_ProcessStore_Status ON dbo.process_store;
