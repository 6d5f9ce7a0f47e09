package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// executor is repo.Executor on SQL Server: one batch (one round trip) per method, each
// following the rules of sql.go; the retries of rule 5 are repo.SQLStore's, with classify.
type executor struct {
	db       *sql.DB
	settings Settings // what New read; IDCollation names the collation in conflict errors
}

var _ repo.Executor = (*executor)(nil)

// conflict is the error for an id whose key a row with different bytes holds (rule 3).
func (x *executor) conflict(id string) error {
	return fmt.Errorf("%w: a row whose id differs from %q only in letter case exists, and correlation_id's collation (%s) cannot hold both; use another id",
		repo.ErrIDConflict, id, x.settings.IDCollation)
}

// Create is sqlCreate: UPDATE ... WITH (UPDLOCK, HOLDLOCK) ... AND status = 'PENDING', INSERT
// when no row holds the key, SELECT, in one transaction. It always reads the row back (a
// finished row as it is); no row back means an id that differs only in case holds the key.
func (x *executor) Create(ctx context.Context, id, owner string) (repo.Record, bool, error) {
	rec, err := scanRecord(x.db.QueryRowContext(ctx, sqlCreate, argsCreate(id, owner)...))
	if errors.Is(err, sql.ErrNoRows) {
		return repo.Record{}, false, x.conflict(id)
	}
	return rec, err == nil, err
}

func (x *executor) Finish(ctx context.Context, id string, status repo.Status, body []byte) (bool, error) {
	stmt := sqlComplete
	if status == repo.StatusError {
		stmt = sqlFail
	}
	n, err := x.count(ctx, stmt, argsTransition(id, body)...)
	return n > 0, err
}

func (x *executor) StatusOf(ctx context.Context, id string) (repo.Status, error) {
	var st string
	err := x.db.QueryRowContext(ctx, sqlStatusOf, argsID(id)...).Scan(&st)
	return repo.Status(st), sqlutil.NotFound(err)
}

// InsertFinished reads (inserted, this exact id has a row) from sqlInsertFinished: (0, 0)
// means an id differing only in case holds the key.
func (x *executor) InsertFinished(ctx context.Context, id string, status repo.Status, payload, errBody []byte) (bool, error) {
	var inserted, exists int
	if err := x.db.QueryRowContext(ctx, sqlInsertFinished, argsInsertFinished(id, status, payload, errBody)...).Scan(&inserted, &exists); err != nil {
		return false, err
	}
	switch {
	case inserted == 1:
		return true, nil
	case exists == 1:
		return false, nil
	}
	return false, x.conflict(id)
}

func (x *executor) Find(ctx context.Context, id string) (repo.Record, error) {
	rec, err := scanRecord(x.db.QueryRowContext(ctx, sqlFind, argsID(id)...))
	return rec, sqlutil.NotFound(err)
}

// Statuses passes the ids as one JSON array to OPENJSON, skipping locked rows
// (READCOMMITTEDLOCK, READPAST).
func (x *executor) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	args, err := argsStatuses(ids)
	if err != nil {
		return nil, err
	}
	return x.query(ctx, sqlStatuses, args...)
}

// List pages in the column's collation.
func (x *executor) List(ctx context.Context, opts repo.ListOptions) ([]repo.Record, error) {
	stmt, args := argsList(opts)
	return x.query(ctx, stmt, args...)
}

func (x *executor) Delete(ctx context.Context, id string) (bool, error) {
	n, err := x.count(ctx, sqlDelete, argsID(id)...)
	return n == 1, err
}

func (x *executor) PendingCount(ctx context.Context) (int64, error) {
	return x.count(ctx, sqlPendingCount)
}

func (x *executor) ClearOwned(ctx context.Context, owner string, errBody []byte) (int64, error) {
	return x.count(ctx, sqlClearOwned, argsClearOwned(owner, errBody)...)
}

// DeleteFinishedBefore skips rows other sessions hold locked; SQLStore keeps limit within
// maxStatementBatch.
func (x *executor) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return x.count(ctx, sqlDeleteFinishedBefore, argsDeleteFinished(cutoff, limit)...)
}

// ExpirePendingBefore skips rows other sessions hold locked; SQLStore keeps limit within
// maxStatementBatch.
func (x *executor) ExpirePendingBefore(ctx context.Context, cutoff time.Time, limit int, errBody []byte) (int64, error) {
	return x.count(ctx, sqlExpirePendingBefore, argsExpirePending(cutoff, limit, errBody)...)
}

// BeginStart is sqlBeginStart (rule 3): its first column says whether it inserted; no row
// back means an id that differs only in case holds the key.
func (x *executor) BeginStart(ctx context.Context, id, owner, key string, lease time.Duration) (repo.StartState, bool, error) {
	var created int64
	st, err := sqlutil.ScanStart(x.db.QueryRowContext(ctx, sqlBeginStart, argsBeginStart(id, owner, key, lease)...), wallUTC, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return repo.StartState{}, false, x.conflict(id)
	}
	return st, created == 1, err
}

func (x *executor) ReadStart(ctx context.Context, id string) (repo.StartState, error) {
	st, err := scanStart(x.db.QueryRowContext(ctx, sqlReadStart, argsID(id)...))
	return st, sqlutil.NotFound(err)
}

func (x *executor) ClaimStart(ctx context.Context, id, owner string, attempt int64, lease time.Duration) (bool, error) {
	n, err := x.count(ctx, sqlClaimStart, argsClaimStart(id, attempt, lease, owner)...)
	return n == 1, err
}

func (x *executor) ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error) {
	n, err := x.count(ctx, sqlReleaseStart, argsReleaseStart(id, attempt)...)
	return n == 1, err
}

// SetInstance is sqlSetInstance, which reads back the instance the row holds after its
// update: always one, unless no row has the id.
func (x *executor) SetInstance(ctx context.Context, id, instanceID string) (string, error) {
	var n int64
	var got string
	err := x.db.QueryRowContext(ctx, sqlSetInstance, argsSetInstance(id, instanceID)...).Scan(&n, &got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", repo.ErrNotFound
	case err != nil:
		return "", err
	case got == "":
		return "", errors.New("the row holds no instance after the update")
	}
	return got, nil
}

func (x *executor) Beat(ctx context.Context, worker string) error {
	_, err := x.db.ExecContext(ctx, sqlBeat, argsWorker(worker)...)
	return err
}

func (x *executor) Workers(ctx context.Context) ([]repo.WorkerBeat, error) {
	return sqlutil.Beats(ctx, x.db, sqlWorkers)
}

func (x *executor) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error) {
	n, err := x.count(ctx, sqlForgetWorker, argsForgetWorker(worker, olderThan)...)
	return n == 1, err
}

func (x *executor) Ping(ctx context.Context) error { return x.db.PingContext(ctx) }

func (x *executor) Close() error { return x.db.Close() }

// count runs a batch that ends in SELECT @@ROWCOUNT (rule 7), or another single count.
func (x *executor) count(ctx context.Context, stmt string, args ...any) (int64, error) {
	var n int64
	err := x.db.QueryRowContext(ctx, stmt, args...).Scan(&n)
	return n, err
}

func (x *executor) query(ctx context.Context, stmt string, args ...any) ([]repo.Record, error) {
	return sqlutil.Records(ctx, x.db, scanRecord, stmt, args...)
}

func scanRecord(row sqlutil.Scanner) (repo.Record, error) {
	return sqlutil.ScanRecord(row, wallUTC)
}

func scanStart(row sqlutil.Scanner) (repo.StartState, error) {
	return sqlutil.ScanStart(row, wallUTC)
}

// utcWall reads a DATETIME2 value, which holds UTC without a zone: go-mssqldb attaches the
// connection's time zone to it, so keep the wall clock and call it UTC.
func utcWall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func wallUTC(t time.Time) (time.Time, error) { return utcWall(t), nil }
