package mssql

import "github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"

// The statements of the SQL Server store, on the Node.js service's table dbo.process_store
// (VARCHAR(64) keys, NVARCHAR(MAX) bodies, DATETIME2(3) UTC times) plus owner. Parameters are named
// (@id, ...); args.go builds them with the types the columns have.
//
// No SQL Server runs in the tests: store_test.go checks these as text, and the conformance suite
// runs them when WAITROOM_TEST_MSSQL_DSN is set.
//
// Rules every statement here follows, and every new one must follow (store_test.go checks
// each of them as text, over every statement listed in its statements map: add yours there):
//
//  1. Skipping locked rows: READPAST only together with READCOMMITTEDLOCK, as hintSkipLocked.
//     The Table hints page says READPAST "can't be specified" when the database has
//     READ_COMMITTED_SNAPSHOT ON and the session runs READ COMMITTED (error 650), unless the
//     query adds READCOMMITTEDLOCK; RCSI is on by default in Azure SQL Database. With RCSI off
//     READCOMMITTEDLOCK is what READ COMMITTED does anyway, so one statement is right for
//     both settings and for a database whose setting changes while the service runs (a hint
//     chosen at open would break on the next ALTER DATABASE). The same page allows one
//     granularity hint per table, and READCOMMITTEDLOCK is one (with ROWLOCK, PAGLOCK,
//     TABLOCK, TABLOCKX, NOLOCK), so hintSkipLocked carries no ROWLOCK. Never NOLOCK: it can
//     return a DONE that rolls back.
//  2. Ids are compared byte for byte: a predicate on one id is idIs (or idJoin for a set),
//     the column's own equality, which seeks the primary key, AND the same equality under
//     binaryCollation as a residual filter. On a case-insensitive column the seek finds at
//     most one row (the key is unique under the column's collation) and the filter drops it
//     unless its bytes are the id's. A bare "correlation_id = @id" appears only in idTaken,
//     the insert guard, which must see any row the primary key would collide with.
//     Collation-changing the column instead would rebuild the primary key of a table the
//     Node.js service never cleaned, offline; see the README.
//  3. Inserting an id that may exist: insert under idTaken with UPDLOCK, HOLDLOCK inside
//     one transaction (SET XACT_ABORT ON), then read the row back with idIs. No row back
//     means an id that differs only in case holds the key: ErrIDConflict. A duplicate key
//     (2627, 2601) from the INSERT means a concurrent insert won: the batch rolled back
//     whole, and the store runs it again, which then takes the "row exists" path.
//  4. Parameters are typed (args.go): VARCHAR keys as mssql.VarChar, NVARCHAR(MAX) bodies
//     as mssql.NVarCharMax, NULL as sql.NullString (a typed NVARCHAR NULL, never nil, which
//     go-mssqldb sends as the untyped NULL some TDS servers refuse).
//  5. Retries: every call goes through retry (retry.go): deadlock victims and Azure SQL's
//     transient errors are retried with jittered backoff, reads and writes alike. Every
//     statement is safe to run again: a write either committed whole or not at all, and
//     its guard (status = 'PENDING', idTaken) makes a second run a no-op.
//  6. Batches: TOP (@batch) statements never get more than maxStatementBatch rows per
//     statement, below the 5,000 locks at which SQL Server escalates to a table lock.
//  7. Counts come from SELECT @@ROWCOUNT rather than the driver's RowsAffected, which reads
//     DONE-token counts that SET NOCOUNT ON (possibly a server-wide 'user options' default)
//     suppresses. Times come from SYSUTCDATETIME(); the table is always dbo.process_store;
//     no GO separators, no MERGE.

// binaryCollation is the collation exact id comparisons use: binary code-point order, the
// same bytes-for-bytes rule as PostgreSQL's "C" and SQLite's BINARY for the ASCII ids
// repo.ValidateID allows.
const binaryCollation = "Latin1_General_100_BIN2"

// idIs is the predicate "correlation_id is exactly @id" (rule 2).
const idIs = `correlation_id = @id AND correlation_id = @id COLLATE ` + binaryCollation

// idTaken is the predicate "a row holds @id's primary key", in the column's own collation:
// on a case-insensitive column that includes an id differing only in case (rule 2, 3).
const idTaken = `correlation_id = @id`

// idJoin joins rows p to the ids j of an OPENJSON array, exactly (rule 2).
const idJoin = `p.correlation_id = j.id AND p.correlation_id = j.id COLLATE ` + binaryCollation

// hintSkipLocked makes a read skip rows other sessions hold locked, under either setting of
// READ_COMMITTED_SNAPSHOT (rule 1).
const hintSkipLocked = `WITH (READCOMMITTEDLOCK, READPAST)`

// hintKeyRange is the upsert's lock: update locks held to the end of the transaction, with
// the key-range lock HOLDLOCK takes on a missing key, so a concurrent insert of the same id
// waits instead of inserting twice (rule 3).
const hintKeyRange = `WITH (UPDLOCK, HOLDLOCK)`

// maxStatementBatch is the most rows one TOP (@batch) statement touches (rule 6). SQL Server
// escalates to a table lock when one statement holds about 5,000 locks on one table or
// index; the store splits a larger batch into statements of this size.
const maxStatementBatch = 4000

// bumpUpdatedAt sets updated_at to the server's UTC clock, or one millisecond past the old
// value when the clock has not moved past it (same millisecond of DATETIME2(3), or a clock
// stepped back), so every change moves updated_at strictly forward.
const bumpUpdatedAt = `updated_at = CASE WHEN SYSUTCDATETIME() > DATEADD(millisecond, 1, updated_at)
    THEN SYSUTCDATETIME() ELSE DATEADD(millisecond, 1, updated_at) END`

// columns is the column list every read selects, in the order scanRecord expects.
const columns = sqlutil.Columns

const (
	// sqlCreate is the UPDLOCK, HOLDLOCK upsert in one transaction (one round trip): refresh
	// a PENDING row; otherwise insert unless the key is taken (a finished row, or on a
	// case-insensitive column an id differing in case); then read the row. A finished row
	// is never reset to PENDING. No row back: ErrIDConflict (rule 3).
	sqlCreate = `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @now DATETIME2(3) = SYSUTCDATETIME();
UPDATE dbo.process_store ` + hintKeyRange + `
   SET owner = @owner, ` + bumpUpdatedAt + `
 WHERE ` + idIs + ` AND status = 'PENDING';
IF @@ROWCOUNT = 0
   AND NOT EXISTS (SELECT 1 FROM dbo.process_store ` + hintKeyRange + ` WHERE ` + idTaken + `)
  INSERT INTO dbo.process_store (correlation_id, status, owner, started_at, updated_at)
  VALUES (@id, 'PENDING', @owner, @now, @now);
SELECT ` + columns + ` FROM dbo.process_store WHERE ` + idIs + `;
COMMIT TRANSACTION;`

	// sqlComplete is the guarded transition: the first writer wins, a second learns it lost.
	sqlComplete = `UPDATE dbo.process_store
   SET status = 'DONE', payload_json = @body, ` + bumpUpdatedAt + `
 WHERE ` + idIs + ` AND status = 'PENDING';
SELECT @@ROWCOUNT;`

	sqlFail = `UPDATE dbo.process_store
   SET status = 'ERROR', error_json = @body, ` + bumpUpdatedAt + `
 WHERE ` + idIs + ` AND status = 'PENDING';
SELECT @@ROWCOUNT;`

	sqlStatusOf = `SELECT status FROM dbo.process_store WHERE ` + idIs

	// sqlInsertFinished inserts unless the key is taken and reports (inserted, this exact
	// id has a row): (0, 0) means an id differing only in case holds the key (rule 3).
	sqlInsertFinished = `SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @now DATETIME2(3) = SYSUTCDATETIME(), @inserted INT;
INSERT INTO dbo.process_store (correlation_id, status, payload_json, error_json, started_at, updated_at)
SELECT @id, @status, @payload, @error, @now, @now
 WHERE NOT EXISTS (SELECT 1 FROM dbo.process_store ` + hintKeyRange + ` WHERE ` + idTaken + `);
SET @inserted = @@ROWCOUNT;
SELECT @inserted, CASE WHEN EXISTS (SELECT 1 FROM dbo.process_store WHERE ` + idIs + `) THEN 1 ELSE 0 END;
COMMIT TRANSACTION;`

	sqlFind = `SELECT ` + columns + ` FROM dbo.process_store WHERE ` + idIs

	// sqlStatuses reads a chunk of ids passed as one JSON array (a request takes at most
	// 2,100 parameters), skipping rows a writer holds locked; the caller reads them on its
	// next tick.
	sqlStatuses = `SELECT p.correlation_id, p.status, p.payload_json, p.error_json, p.owner, p.started_at, p.updated_at
  FROM dbo.process_store p ` + hintSkipLocked + `
  JOIN OPENJSON(@ids) WITH (id varchar(64) '$') j ON ` + idJoin

	// List pages in the column's collation, which orders and compares the keyset cursor the
	// same way the primary key does.
	sqlList = `SELECT TOP (@limit) ` + columns + ` FROM dbo.process_store
 WHERE correlation_id > @after ORDER BY correlation_id`

	sqlListStatus = `SELECT TOP (@limit) ` + columns + ` FROM dbo.process_store
 WHERE correlation_id > @after AND status = @status ORDER BY correlation_id`

	sqlDelete = `DELETE FROM dbo.process_store WHERE ` + idIs + `;
SELECT @@ROWCOUNT;`

	sqlPendingCount = `SELECT COUNT_BIG(*) FROM dbo.process_store WHERE status = 'PENDING'`

	sqlClearOwned = `UPDATE dbo.process_store
   SET status = 'ERROR', error_json = @body, ` + bumpUpdatedAt + `
 WHERE owner = @owner AND status = 'PENDING';
SELECT @@ROWCOUNT;`

	// The retention statements work in bounded batches; skipping locked rows makes replicas
	// running them at once pass each other's rows instead of queueing on them.
	sqlDeleteFinishedBefore = `DELETE TOP (@batch) FROM dbo.process_store ` + hintSkipLocked + `
 WHERE status IN ('DONE', 'ERROR') AND updated_at < @cutoff;
SELECT @@ROWCOUNT;`

	sqlExpirePendingBefore = `UPDATE TOP (@batch) dbo.process_store ` + hintSkipLocked + `
   SET status = 'ERROR', error_json = @body, ` + bumpUpdatedAt + `
 WHERE status = 'PENDING' AND started_at < @cutoff;
SELECT @@ROWCOUNT;`

	// sqlSettings reads, at open, what the store depends on: the compatibility level (130+
	// for OPENJSON), READ_COMMITTED_SNAPSHOT (reported; rule 1 makes the statements right
	// either way) and the collation of correlation_id (the database default when the table
	// is not there yet) with its comparison style, whose bit 1 means "ignores case". The
	// current database's row of sys.databases is visible to every login.
	sqlSettings = `SELECT d.name, d.compatibility_level, d.is_read_committed_snapshot_on,
       CAST(COALESCE(c.collation_name, d.collation_name) AS NVARCHAR(128)),
       CAST(COLLATIONPROPERTY(COALESCE(c.collation_name, d.collation_name), 'ComparisonStyle') AS INT)
  FROM sys.databases d
  LEFT JOIN sys.columns c ON c.object_id = OBJECT_ID(N'dbo.process_store') AND c.name = N'correlation_id'
 WHERE d.database_id = DB_ID()`
)
