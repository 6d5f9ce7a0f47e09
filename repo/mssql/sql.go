package mssql

// The statements of the SQL Server store, on the seed's table dbo.process_store (VARCHAR(64)
// keys, NVARCHAR(MAX) bodies, DATETIME2(3) UTC times) plus owner. Parameters are named
// (@id, ...); args.go builds them with the types the columns have.
//
// Not run on the development machine (SQL Server cannot run there): store_test.go checks
// these as text, and the conformance suite runs them when WAITROOM_TEST_MSSQL_DSN is set.
//
// Counts come from SELECT @@ROWCOUNT rather than the driver's RowsAffected, which reads
// DONE-token counts that SET NOCOUNT ON (possibly a server-wide 'user options' default)
// suppresses.

// bumpUpdatedAt sets updated_at to the server's UTC clock, or one millisecond past the old
// value when the clock has not moved past it (same millisecond of DATETIME2(3), or a clock
// stepped back), so every change moves updated_at strictly forward.
const bumpUpdatedAt = `updated_at = CASE WHEN SYSUTCDATETIME() > DATEADD(millisecond, 1, updated_at)
    THEN SYSUTCDATETIME() ELSE DATEADD(millisecond, 1, updated_at) END`

// columns is the column list every read selects, in the order scanRecord expects.
const columns = `correlation_id, status, payload_json, error_json, owner, started_at, updated_at`

const (
	// sqlCreate is the UPDLOCK, HOLDLOCK upsert in one transaction (one round trip): refresh
	// a PENDING row; otherwise insert unless a (finished) row exists; then read the row. The
	// key-range lock HOLDLOCK takes on a missing key makes a concurrent Create of the same id
	// wait instead of inserting twice. A finished row is never reset to PENDING.
	sqlCreate = `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @now DATETIME2(3) = SYSUTCDATETIME();
UPDATE dbo.process_store WITH (UPDLOCK, HOLDLOCK)
   SET owner = @owner, ` + bumpUpdatedAt + `
 WHERE correlation_id = @id AND status = 'PENDING';
IF @@ROWCOUNT = 0
   AND NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)
  INSERT INTO dbo.process_store (correlation_id, status, owner, started_at, updated_at)
  VALUES (@id, 'PENDING', @owner, @now, @now);
SELECT ` + columns + ` FROM dbo.process_store WHERE correlation_id = @id;
COMMIT TRANSACTION;`

	// sqlComplete is the guarded transition: the first writer wins, a second learns it lost.
	sqlComplete = `UPDATE dbo.process_store
   SET status = 'DONE', payload_json = @body, ` + bumpUpdatedAt + `
 WHERE correlation_id = @id AND status = 'PENDING';
SELECT @@ROWCOUNT;`

	sqlFail = `UPDATE dbo.process_store
   SET status = 'ERROR', error_json = @body, ` + bumpUpdatedAt + `
 WHERE correlation_id = @id AND status = 'PENDING';
SELECT @@ROWCOUNT;`

	sqlStatusOf = `SELECT status FROM dbo.process_store WHERE correlation_id = @id`

	sqlInsertFinished = `DECLARE @now DATETIME2(3) = SYSUTCDATETIME();
INSERT INTO dbo.process_store (correlation_id, status, payload_json, error_json, started_at, updated_at)
SELECT @id, @status, @payload, @error, @now, @now
 WHERE NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id);
SELECT @@ROWCOUNT;`

	sqlFind = `SELECT ` + columns + ` FROM dbo.process_store WHERE correlation_id = @id`

	// sqlStatuses reads a chunk of ids passed as one JSON array (a request takes at most
	// 2,100 parameters). READPAST skips rows a writer holds locked; the caller reads them on
	// its next tick. Never NOLOCK: it can return a DONE that rolls back.
	sqlStatuses = `SELECT p.correlation_id, p.status, p.payload_json, p.error_json, p.owner, p.started_at, p.updated_at
  FROM dbo.process_store p WITH (READPAST)
  JOIN OPENJSON(@ids) WITH (id varchar(64) '$') j ON j.id = p.correlation_id`

	sqlList = `SELECT TOP (@limit) ` + columns + ` FROM dbo.process_store
 WHERE correlation_id > @after ORDER BY correlation_id`

	sqlListStatus = `SELECT TOP (@limit) ` + columns + ` FROM dbo.process_store
 WHERE correlation_id > @after AND status = @status ORDER BY correlation_id`

	sqlDelete = `DELETE FROM dbo.process_store WHERE correlation_id = @id;
SELECT @@ROWCOUNT;`

	sqlPendingCount = `SELECT COUNT_BIG(*) FROM dbo.process_store WHERE status = 'PENDING'`

	sqlClearOwned = `UPDATE dbo.process_store
   SET status = 'ERROR', error_json = @body, ` + bumpUpdatedAt + `
 WHERE owner = @owner AND status = 'PENDING';
SELECT @@ROWCOUNT;`

	// The retention statements work in bounded batches; READPAST makes replicas running them
	// at once skip each other's rows instead of queueing on them.
	sqlDeleteFinishedBefore = `DELETE TOP (@batch) FROM dbo.process_store WITH (ROWLOCK, READPAST)
 WHERE status IN ('DONE', 'ERROR') AND updated_at < @cutoff;
SELECT @@ROWCOUNT;`

	sqlExpirePendingBefore = `UPDATE TOP (@batch) dbo.process_store WITH (ROWLOCK, READPAST)
   SET status = 'ERROR', error_json = @body, ` + bumpUpdatedAt + `
 WHERE status = 'PENDING' AND started_at < @cutoff;
SELECT @@ROWCOUNT;`
)
