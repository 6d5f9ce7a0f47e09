package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// executor is repo.Executor on SQLite: one statement per method, writes behind the process's
// write gate for the database file.
type executor struct {
	db   *sql.DB
	gate chan struct{} // this process's write gate for the database file
}

var _ repo.Executor = (*executor)(nil)

// write runs fn holding the write gate.
func (x *executor) write(ctx context.Context, fn func() error) error {
	select {
	case x.gate <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-x.gate }()
	return fn()
}

// exec runs a write statement holding the write gate and returns the rows it changed.
func (x *executor) exec(ctx context.Context, stmt string, args ...any) (n int64, err error) {
	err = x.write(ctx, func() error {
		res, err := x.db.ExecContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (x *executor) Create(ctx context.Context, id, owner string) (rec repo.Record, ok bool, err error) {
	err = x.write(ctx, func() error {
		rec, err = scanRecord(x.db.QueryRowContext(ctx, sqlCreate, id, owner))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) { // the row is finished: RETURNING yields nothing
		return repo.Record{}, false, nil
	}
	return rec, err == nil, err
}

func (x *executor) Finish(ctx context.Context, id string, status repo.Status, body []byte) (bool, error) {
	stmt := sqlComplete
	if status == repo.StatusError {
		stmt = sqlFail
	}
	n, err := x.exec(ctx, stmt, id, string(body))
	return n > 0, err
}

func (x *executor) StatusOf(ctx context.Context, id string) (repo.Status, error) {
	var st string
	err := x.db.QueryRowContext(ctx, sqlStatusOf, id).Scan(&st)
	return repo.Status(st), sqlutil.NotFound(err)
}

func (x *executor) InsertFinished(ctx context.Context, id string, status repo.Status, payload, errBody []byte) (bool, error) {
	n, err := x.exec(ctx, sqlInsertFinished, id, string(status), sqlutil.NullString(payload), sqlutil.NullString(errBody))
	return n == 1, err
}

func (x *executor) Find(ctx context.Context, id string) (repo.Record, error) {
	rec, err := scanRecord(x.db.QueryRowContext(ctx, sqlFind, id))
	return rec, sqlutil.NotFound(err)
}

// Statuses passes the ids as one JSON array (json_each).
func (x *executor) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	arr, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	return x.query(ctx, sqlStatuses, string(arr))
}

// List pages in byte order (the column's BINARY collation).
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
	var n int64
	err := x.db.QueryRowContext(ctx, sqlPendingCount).Scan(&n)
	return n, err
}

func (x *executor) ClearOwned(ctx context.Context, owner string, errBody []byte) (int64, error) {
	return x.exec(ctx, sqlClearOwned, owner, string(errBody))
}

func (x *executor) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return x.exec(ctx, sqlDeleteFinishedBefore, formatTime(cutoff), limit)
}

func (x *executor) ExpirePendingBefore(ctx context.Context, cutoff time.Time, limit int, errBody []byte) (int64, error) {
	return x.exec(ctx, sqlExpirePendingBefore, formatTime(cutoff), limit, string(errBody))
}

func (x *executor) BeginStart(ctx context.Context, id, owner, key string, lease time.Duration) (st repo.StartState, created bool, err error) {
	err = x.write(ctx, func() error {
		st, err = scanStart(x.db.QueryRowContext(ctx, sqlBeginStart, id, owner, key, modifier(lease)))
		return err
	})
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
	n, err := x.exec(ctx, sqlClaimStart, id, attempt, modifier(lease), owner)
	return n == 1, err
}

func (x *executor) ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error) {
	n, err := x.exec(ctx, sqlReleaseStart, id, attempt)
	return n == 1, err
}

// SetInstance cannot tell which instance a row it did not update holds: "" then.
func (x *executor) SetInstance(ctx context.Context, id, instanceID string) (string, error) {
	n, err := x.exec(ctx, sqlSetInstance, id, instanceID)
	if err != nil || n != 1 {
		return "", err
	}
	return instanceID, nil
}

func (x *executor) Beat(ctx context.Context, worker string) error {
	_, err := x.exec(ctx, sqlBeat, worker)
	return err
}

func (x *executor) Workers(ctx context.Context) ([]repo.WorkerBeat, error) {
	return sqlutil.Beats(ctx, x.db, sqlWorkers)
}

func (x *executor) ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error) {
	n, err := x.exec(ctx, sqlForgetWorker, worker, modifier(-olderThan))
	return n == 1, err
}

func (x *executor) Ping(ctx context.Context) error { return x.db.PingContext(ctx) }

func (x *executor) Close() error { return x.db.Close() }

func (x *executor) query(ctx context.Context, stmt string, args ...any) ([]repo.Record, error) {
	return sqlutil.Records(ctx, x.db, scanRecord, stmt, args...)
}

func scanRecord(row sqlutil.Scanner) (repo.Record, error) { return sqlutil.ScanRecord(row, parseTime) }

func scanStart(row sqlutil.Scanner) (repo.StartState, error) {
	return sqlutil.ScanStart(row, parseTime)
}

// formatTime renders a cutoff in the stored form. Stored times have millisecond precision,
// so rounding the cutoff up to the millisecond selects exactly the rows before it.
func formatTime(t time.Time) string {
	return sqlutil.CeilUTC(t, time.Millisecond).Format(timeFormat)
}

// parseTime reads a stored time: the store's own form, or the forms SQLite's date functions
// and hand-written rows use.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{timeFormat, time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// modifier renders d as a strftime modifier, "+15.000 seconds" (milliseconds: the stored
// precision).
func modifier(d time.Duration) string {
	return fmt.Sprintf("%+.3f seconds", d.Round(time.Millisecond).Seconds())
}
