package mssql

// The statements of the start protocol and the heartbeats (repo/start.go). They follow the
// rules of sql.go (store_test.go checks them with the rest): ids bound as VARCHAR
// (start_args.go) and compared with idIs, the insert guarded by idTaken under hintKeyRange,
// guarded UPDATEs whose rows-affected count comes back through SELECT @@ROWCOUNT, leases and
// ages computed by the server's clock (SYSUTCDATETIME()). No statement binds a NULL.
//
// No SQL Server runs in the tests: start_test.go and store_test.go check these as text, and the
// conformance suite runs them when WAITROOM_TEST_MSSQL_DSN is set.

// startColumns is what ReadStart and BeginStart read, in the order scanStart expects: the
// record's columns, then the start columns, with the claim's attempt (0 for rows registered
// by Create) and the milliseconds its lease has left (0 once it ran out).
const startColumns = columns + `, process_key, process_instance_id, COALESCE(start_attempt, 0),
  CASE WHEN start_lease_until > SYSUTCDATETIME()
       THEN DATEDIFF_BIG(millisecond, SYSUTCDATETIME(), start_lease_until) ELSE 0 END`

// hintReadLatest makes a read of one row wait for a writer instead of reading an older
// version under READ_COMMITTED_SNAPSHOT: the start protocol decides on what it reads.
const hintReadLatest = `WITH (READCOMMITTEDLOCK)`

const (
	// sqlBeginStart inserts the row with claim 1 unless the key is taken, then reads it, in
	// one transaction (one round trip; rule 3). The first result column says whether this
	// batch inserted. No row back: an id that differs only in case holds the key.
	sqlBeginStart = `SET XACT_ABORT ON;
DECLARE @now DATETIME2(3) = SYSUTCDATETIME();
DECLARE @created INT = 0;
BEGIN TRANSACTION;
IF NOT EXISTS (SELECT 1 FROM dbo.process_store ` + hintKeyRange + ` WHERE ` + idTaken + `)
BEGIN
  INSERT INTO dbo.process_store (correlation_id, status, owner, process_key, start_attempt,
    start_lease_until, started_at, updated_at)
  VALUES (@id, 'PENDING', @owner, @key, 1, DATEADD(millisecond, @leaseMs, @now), @now, @now);
  SET @created = 1;
END;
SELECT @created, ` + startColumns + `
  FROM dbo.process_store WHERE ` + idIs + `;
COMMIT TRANSACTION;`

	// sqlReadStart reads one row's start columns, the latest committed version.
	sqlReadStart = `SELECT ` + startColumns + ` FROM dbo.process_store ` + hintReadLatest + ` WHERE ` + idIs

	// sqlClaimStart is the takeover: a guarded UPDATE on the whole Startable condition plus
	// the attempt read (the fencing token). A concurrent claimer blocks on the row's update
	// lock and re-checks the guard on the committed row, so only one wins.
	sqlClaimStart = `UPDATE dbo.process_store
   SET start_attempt = @attempt + 1, start_lease_until = DATEADD(millisecond, @leaseMs, SYSUTCDATETIME()),
       owner = @owner, ` + bumpUpdatedAt + `
 WHERE ` + idIs + `
   AND status = 'PENDING' AND process_key IS NOT NULL AND process_instance_id IS NULL
   AND COALESCE(start_attempt, 0) = @attempt
   AND (start_lease_until IS NULL OR start_lease_until <= SYSUTCDATETIME());
SELECT @@ROWCOUNT;`

	// sqlReleaseStart ends claim @attempt now (never extends it).
	sqlReleaseStart = `UPDATE dbo.process_store
   SET start_lease_until = CASE WHEN start_lease_until IS NULL OR start_lease_until > SYSUTCDATETIME()
                                THEN SYSUTCDATETIME() ELSE start_lease_until END, ` + bumpUpdatedAt + `
 WHERE ` + idIs + `
   AND status = 'PENDING' AND process_instance_id IS NULL AND COALESCE(start_attempt, 0) = @attempt;
SELECT @@ROWCOUNT;`

	// sqlSetInstance records the first instance only, then reads the one the row holds (ours,
	// or a competing writer's, committed before our UPDATE got the row's lock). The first
	// result column says whether this batch recorded it; no row means no such id.
	sqlSetInstance = `DECLARE @n INT;
UPDATE dbo.process_store
   SET process_instance_id = @instance, ` + bumpUpdatedAt + `
 WHERE ` + idIs + ` AND process_instance_id IS NULL;
SET @n = @@ROWCOUNT;
SELECT @n, COALESCE(process_instance_id, '') FROM dbo.process_store ` + hintReadLatest + ` WHERE ` + idIs + `;`

	// sqlBeat is the UPDLOCK, HOLDLOCK upsert of the worker's row. The heartbeat table's key
	// has a binary collation (003), so plain equality is exact.
	sqlBeat = `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE dbo.process_store_heartbeat ` + hintKeyRange + `
   SET beat_at = CASE WHEN SYSUTCDATETIME() > beat_at THEN SYSUTCDATETIME() ELSE beat_at END
 WHERE worker_id = @worker;
IF @@ROWCOUNT = 0
  INSERT INTO dbo.process_store_heartbeat (worker_id, started_at, beat_at)
  VALUES (@worker, SYSUTCDATETIME(), SYSUTCDATETIME());
COMMIT TRANSACTION;`

	// sqlWorkers skips rows being beaten right now: a worker that is beating is alive, and
	// missing it for one tick delays nothing (absence is not death).
	sqlWorkers = `SELECT worker_id,
       CASE WHEN beat_at < SYSUTCDATETIME() THEN DATEDIFF_BIG(millisecond, beat_at, SYSUTCDATETIME()) ELSE 0 END
  FROM dbo.process_store_heartbeat ` + hintSkipLocked + `
 ORDER BY worker_id`

	// sqlForgetWorker deletes the row if its last beat is at least @olderMs old.
	sqlForgetWorker = `DELETE FROM dbo.process_store_heartbeat
 WHERE worker_id = @worker AND beat_at <= DATEADD(millisecond, -@olderMs, SYSUTCDATETIME());
SELECT @@ROWCOUNT;`
)
