package mssql

// The statements of the start protocol and the heartbeats (repo/start.go), in the spirit of
// the rest of this package: ids bound as VARCHAR (start_args.go), compared byte for byte,
// guarded UPDATEs whose rows-affected count comes back through SELECT @@ROWCOUNT, leases and
// ages computed by the server's clock (SYSUTCDATETIME()). No statement binds a NULL.
//
// Not run on the development machine (SQL Server cannot run there): start_test.go checks
// these as text, and the conformance suite runs them when WAITROOM_TEST_MSSQL_DSN is set.

// idExact matches the row of @id exactly. The seed's key column has the database's default
// collation, usually case-insensitive: the first term lets the primary key seek, the second
// (Latin1_General_100_BIN2) refuses a row whose id differs from @id in case only.
const idExact = `correlation_id = @id AND correlation_id = @id COLLATE Latin1_General_100_BIN2`

// startColumns is what ReadStart and BeginStart read, in the order scanStart expects: the
// record's columns, then the start columns, with the claim's attempt (0 for rows registered
// by Create) and the milliseconds its lease has left (0 once it ran out).
const startColumns = columns + `, process_key, process_instance_id, COALESCE(start_attempt, 0),
  CASE WHEN start_lease_until > SYSUTCDATETIME()
       THEN DATEDIFF_BIG(millisecond, SYSUTCDATETIME(), start_lease_until) ELSE 0 END`

const (
	// sqlBeginStart inserts the row with claim 1 unless one with this key exists, then reads
	// it, in one transaction (one round trip). The existence check takes UPDLOCK, HOLDLOCK,
	// so a concurrent BeginStart of the same id waits for this one's commit and then finds the
	// row; it compares with the column's own collation, as the primary key does, so it sees
	// every row the insert would collide with. The first result column says whether this
	// batch inserted. The read is exact (idExact): a row whose id differs in case only is not
	// returned, and the caller reports the collision.
	sqlBeginStart = `SET XACT_ABORT ON;
DECLARE @now DATETIME2(3) = SYSUTCDATETIME();
DECLARE @created INT = 0;
BEGIN TRANSACTION;
IF NOT EXISTS (SELECT 1 FROM dbo.process_store WITH (UPDLOCK, HOLDLOCK) WHERE correlation_id = @id)
BEGIN
  INSERT INTO dbo.process_store (correlation_id, status, owner, process_key, start_attempt,
    start_lease_until, started_at, updated_at)
  VALUES (@id, 'PENDING', @owner, @key, 1, DATEADD(millisecond, @leaseMs, @now), @now, @now);
  SET @created = 1;
END;
SELECT @created, ` + startColumns + `
  FROM dbo.process_store WITH (READCOMMITTEDLOCK) WHERE ` + idExact + `;
COMMIT TRANSACTION;`

	// sqlReadStart reads under locking READ COMMITTED (READCOMMITTEDLOCK, whatever the
	// database's READ_COMMITTED_SNAPSHOT setting): the protocol decides on what it reads, so
	// it must not read an older version of a row another session is changing.
	sqlReadStart = `SELECT ` + startColumns + ` FROM dbo.process_store WITH (READCOMMITTEDLOCK) WHERE ` + idExact

	// sqlClaimStart is the takeover: a guarded UPDATE on the whole Startable condition plus
	// the attempt read (the fencing token). A concurrent claimer blocks on the row's update
	// lock and re-checks the guard on the committed row, so only one wins.
	sqlClaimStart = `UPDATE dbo.process_store WITH (READCOMMITTEDLOCK)
   SET start_attempt = @attempt + 1, start_lease_until = DATEADD(millisecond, @leaseMs, SYSUTCDATETIME()),
       owner = @owner, ` + bumpUpdatedAt + `
 WHERE ` + idExact + `
   AND status = 'PENDING' AND process_key IS NOT NULL AND process_instance_id IS NULL
   AND COALESCE(start_attempt, 0) = @attempt
   AND (start_lease_until IS NULL OR start_lease_until <= SYSUTCDATETIME());
SELECT @@ROWCOUNT;`

	// sqlReleaseStart ends claim @attempt now (never extends it).
	sqlReleaseStart = `UPDATE dbo.process_store WITH (READCOMMITTEDLOCK)
   SET start_lease_until = CASE WHEN start_lease_until IS NULL OR start_lease_until > SYSUTCDATETIME()
                                THEN SYSUTCDATETIME() ELSE start_lease_until END, ` + bumpUpdatedAt + `
 WHERE ` + idExact + `
   AND status = 'PENDING' AND process_instance_id IS NULL AND COALESCE(start_attempt, 0) = @attempt;
SELECT @@ROWCOUNT;`

	// sqlSetInstance records the first instance only, then reads the one the row holds (ours,
	// or a competing writer's, committed before our UPDATE got the row's lock). The first
	// result column says whether this batch recorded it; no row means no such id.
	sqlSetInstance = `DECLARE @n INT;
UPDATE dbo.process_store WITH (READCOMMITTEDLOCK)
   SET process_instance_id = @instance, ` + bumpUpdatedAt + `
 WHERE ` + idExact + ` AND process_instance_id IS NULL;
SET @n = @@ROWCOUNT;
SELECT @n, COALESCE(process_instance_id, '') FROM dbo.process_store WITH (READCOMMITTEDLOCK) WHERE ` + idExact + `;`

	// sqlBeat is the UPDLOCK, HOLDLOCK upsert of the worker's row. The heartbeat table's key
	// has a binary collation (003), so plain equality is exact.
	sqlBeat = `SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE dbo.process_store_heartbeat WITH (UPDLOCK, HOLDLOCK)
   SET beat_at = CASE WHEN SYSUTCDATETIME() > beat_at THEN SYSUTCDATETIME() ELSE beat_at END
 WHERE worker_id = @worker;
IF @@ROWCOUNT = 0
  INSERT INTO dbo.process_store_heartbeat (worker_id, started_at, beat_at)
  VALUES (@worker, SYSUTCDATETIME(), SYSUTCDATETIME());
COMMIT TRANSACTION;`

	// sqlWorkers skips rows being beaten right now (READPAST): a worker that is beating is
	// alive, and missing it for one tick only delays nothing (absence is not death).
	sqlWorkers = `SELECT worker_id,
       CASE WHEN beat_at < SYSUTCDATETIME() THEN DATEDIFF_BIG(millisecond, beat_at, SYSUTCDATETIME()) ELSE 0 END
  FROM dbo.process_store_heartbeat WITH (READCOMMITTEDLOCK, READPAST)
 ORDER BY worker_id`

	// sqlForgetWorker deletes the row if its last beat is at least @olderMs old.
	sqlForgetWorker = `DELETE FROM dbo.process_store_heartbeat WITH (READCOMMITTEDLOCK)
 WHERE worker_id = @worker AND beat_at <= DATEADD(millisecond, -@olderMs, SYSUTCDATETIME());
SELECT @@ROWCOUNT;`
)
