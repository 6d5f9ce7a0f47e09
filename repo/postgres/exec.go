package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// executor is repo.Executor on PostgreSQL: one statement per method.
type executor struct {
	db *sql.DB
}

var _ repo.Executor = (*executor)(nil)

func (x *executor) Create(ctx context.Context, id, owner string) (repo.Record, bool, error) {
	rec, err := scanRecord(x.db.QueryRowContext(ctx, sqlCreate, id, owner))
	if errors.Is(err, sql.ErrNoRows) { // the row is finished: RETURNING yields nothing
		return repo.Record{}, false, nil
	}
	return rec, err == nil, err
}

// Finish notifies the row's id on NotifyChannel when it finishes it.
func (x *executor) Finish(ctx context.Context, id string, status repo.Status, body []byte) (bool, error) {
	stmt := sqlComplete
	if status == repo.StatusError {
		stmt = sqlFail
	}
	n, err := x.count(ctx, stmt, id, string(body), NotifyChannel)
	return n > 0, err
}

func (x *executor) StatusOf(ctx context.Context, id string) (repo.Status, error) {
	var st string
	err := x.db.QueryRowContext(ctx, sqlStatusOf, id).Scan(&st)
	return repo.Status(st), sqlutil.NotFound(err)
}

// InsertFinished notifies the row's id on NotifyChannel when it inserts it.
func (x *executor) InsertFinished(ctx context.Context, id string, status repo.Status, payload, errBody []byte) (bool, error) {
	n, err := x.count(ctx, sqlInsertFinished, id, string(status), sqlutil.NullString(payload), sqlutil.NullString(errBody), NotifyChannel)
	return n == 1, err
}

func (x *executor) Find(ctx context.Context, id string) (repo.Record, error) {
	rec, err := scanRecord(x.db.QueryRowContext(ctx, sqlFind, id))
	return rec, sqlutil.NotFound(err)
}

// Statuses passes the ids as one text array (= ANY($1::text[])).
func (x *executor) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	return x.query(ctx, sqlStatuses, ids)
}

// List pages in the column's collation, "C" in the migrations: byte order.
func (x *executor) List(ctx context.Context, opts repo.ListOptions) ([]repo.Record, error) {
	if opts.Status == "" {
		return x.query(ctx, sqlList, opts.After, opts.Limit)
	}
	return x.query(ctx, sqlListStatus, opts.After, opts.Limit, string(opts.Status))
}

func (x *executor) Delete(ctx context.Context, id string) (bool, error) {
	n, err := x.exec(ctx, sqlDelete, id)
	return n == 1, err
}

func (x *executor) PendingCount(ctx context.Context) (int64, error) {
	return x.count(ctx, sqlPendingCount)
}

// ClearOwned notifies each row it finishes.
func (x *executor) ClearOwned(ctx context.Context, owner string, errBody []byte) (int64, error) {
	return x.count(ctx, sqlClearOwned, owner, string(errBody), NotifyChannel)
}

// DeleteFinishedBefore skips rows another replica has locked.
func (x *executor) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return x.exec(ctx, sqlDeleteFinishedBefore, cutoffArg(cutoff), limit)
}

// ExpirePendingBefore skips rows another replica has locked, and notifies each row it
// finishes.
func (x *executor) ExpirePendingBefore(ctx context.Context, cutoff time.Time, limit int, errBody []byte) (int64, error) {
	return x.count(ctx, sqlExpirePendingBefore, cutoffArg(cutoff), limit, string(errBody), NotifyChannel)
}

func (x *executor) BeginStart(ctx context.Context, id, owner, key string, lease time.Duration) (repo.StartState, bool, error) {
	st, err := scanStart(x.db.QueryRowContext(ctx, sqlBeginStart, id, owner, key, lease.Milliseconds()))
	if errors.Is(err, sql.ErrNoRows) { // the row exists: RETURNING yields nothing
		return repo.StartState{}, false, nil
	}
	return st, err == nil, err
}

func (x *executor) ReadStart(ctx context.Context, id string) (repo.StartState, error) {
	st, err := scanStart(x.db.QueryRowContext(ctx, sqlReadStart, id))
	return st, sqlutil.NotFound(err)
}

func (x *executor) ClaimStart(ctx context.Context, id, owner string, attempt int64, lease time.Duration) (bool, error) {
	n, err := x.exec(ctx, sqlClaimStart, id, attempt, lease.Milliseconds(), owner)
	return n == 1, err
}

func (x *executor) ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error) {
	n, err := x.exec(ctx, sqlReleaseStart, id, attempt)
	return n == 1, err
}

// SetInstance returns the instance it recorded (RETURNING), or "" when it recorded none.
func (x *executor) SetInstance(ctx context.Context, id, instanceID string) (string, error) {
	var v string
	err := x.db.QueryRowContext(ctx, sqlSetInstance, id, instanceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (x *executor) Beat(ctx context.Context, worker string) error {
	_, err := x.db.ExecContext(ctx, sqlBeat, worker)
	return err
}

func (x *executor) Workers(ctx context.Context) ([]repo.WorkerBeat, error) {
	return sqlutil.Beats(ctx, x.db, sqlWorkers)
}

func (x *executor) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error) {
	n, err := x.exec(ctx, sqlForgetWorker, worker, olderThan.Milliseconds())
	return n == 1, err
}

func (x *executor) Ping(ctx context.Context) error { return x.db.PingContext(ctx) }

func (x *executor) Close() error { return x.db.Close() }

func (x *executor) exec(ctx context.Context, stmt string, args ...any) (int64, error) {
	res, err := x.db.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// count runs a statement that returns one count.
func (x *executor) count(ctx context.Context, stmt string, args ...any) (int64, error) {
	var n int64
	err := x.db.QueryRowContext(ctx, stmt, args...).Scan(&n)
	return n, err
}

func (x *executor) query(ctx context.Context, stmt string, args ...any) ([]repo.Record, error) {
	return sqlutil.Records(ctx, x.db, scanRecord, stmt, args...)
}

func scanRecord(row sqlutil.Scanner) (repo.Record, error) {
	return sqlutil.ScanRecord(row, sqlutil.UTC)
}

func scanStart(row sqlutil.Scanner) (repo.StartState, error) {
	return sqlutil.ScanStart(row, sqlutil.UTC)
}

// cutoffArg rounds a cutoff up to the microsecond, timestamptz's precision, so that
// "column < cutoff" keeps its meaning when the driver drops the nanoseconds.
func cutoffArg(t time.Time) time.Time { return sqlutil.CeilUTC(t, time.Microsecond) }
