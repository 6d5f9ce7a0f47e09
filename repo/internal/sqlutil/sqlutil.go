// Package sqlutil holds the database/sql plumbing the dialect packages share: scanning the
// record and start columns every dialect selects in the same order, nullable columns, and
// cutoff rounding. The SQL, and how each dialect's time columns read back, stay in each
// dialect's package.
package sqlutil

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// Columns is the column list every record read selects, in the order ScanRecord expects.
const Columns = `correlation_id, status, payload_json, error_json, owner, started_at, updated_at`

// Scanner is a *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// ScanRecord reads Columns (after lead, columns a statement selects before them) from row.
// T is how the dialect's driver reads its time columns (string for SQLite, time.Time for the
// others), and toUTC turns one into a UTC time.
func ScanRecord[T any](row Scanner, toUTC func(T) (time.Time, error), lead ...any) (repo.Record, error) {
	var (
		rec                     repo.Record
		status                  string
		payload, errBody, owner sql.NullString
		started, updated        T
	)
	dest := append(lead, &rec.CorrelationID, &status, &payload, &errBody, &owner, &started, &updated)
	if err := row.Scan(dest...); err != nil {
		return repo.Record{}, err
	}
	return record(rec, status, payload, errBody, owner, started, updated, toUTC)
}

// ScanStart reads Columns and then the start columns (process_key, process_instance_id, the
// attempt, the milliseconds the lease has left), after lead, from row.
func ScanStart[T any](row Scanner, toUTC func(T) (time.Time, error), lead ...any) (repo.StartState, error) {
	var (
		st                      repo.StartState
		status                  string
		payload, errBody, owner sql.NullString
		key, instance           sql.NullString
		started, updated        T
		leftMS                  int64
	)
	dest := append(lead, &st.CorrelationID, &status, &payload, &errBody, &owner, &started, &updated,
		&key, &instance, &st.Attempt, &leftMS)
	if err := row.Scan(dest...); err != nil {
		return repo.StartState{}, err
	}
	rec, err := record(st.Record, status, payload, errBody, owner, started, updated, toUTC)
	if err != nil {
		return repo.StartState{}, err
	}
	st.Record = rec
	st.ProcessKey, st.ProcessInstanceID = key.String, instance.String
	st.LeaseLeft = time.Duration(max(leftMS, 0)) * time.Millisecond
	return st, nil
}

func record[T any](rec repo.Record, status string, payload, errBody, owner sql.NullString, started, updated T,
	toUTC func(T) (time.Time, error)) (repo.Record, error) {
	rec.Status = repo.Status(status)
	rec.Payload = RawOrNil(payload)
	rec.Error = RawOrNil(errBody)
	rec.Owner = owner.String
	var err error
	if rec.StartedAt, err = toUTC(started); err != nil {
		return repo.Record{}, fmt.Errorf("started_at of %s: %w", rec.CorrelationID, err)
	}
	if rec.UpdatedAt, err = toUTC(updated); err != nil {
		return repo.Record{}, fmt.Errorf("updated_at of %s: %w", rec.CorrelationID, err)
	}
	return rec, nil
}

// Queryer is a *sql.DB (or *sql.Conn, *sql.Tx).
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Records runs stmt and reads every row with scan.
func Records(ctx context.Context, q Queryer, scan func(Scanner) (repo.Record, error), stmt string, args ...any) ([]repo.Record, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []repo.Record
	for rows.Next() {
		rec, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Beats runs stmt, which selects (worker_id, age in ms), and reads every row.
func Beats(ctx context.Context, q Queryer, stmt string, args ...any) ([]repo.WorkerBeat, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []repo.WorkerBeat
	for rows.Next() {
		var b repo.WorkerBeat
		var ms int64
		if err := rows.Scan(&b.WorkerID, &ms); err != nil {
			return nil, err
		}
		b.Age = time.Duration(max(ms, 0)) * time.Millisecond
		out = append(out, b)
	}
	return out, rows.Err()
}

// NotFound is err with sql.ErrNoRows (a one-row read found nothing) turned into
// repo.ErrNotFound, as repo.Executor reports it.
func NotFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return repo.ErrNotFound
	}
	return err
}

// Open is every dialect's Open: a pool on opts.DSN from openDB, and the store on it from
// newStore, which owns the pool from then on; the pool is closed when newStore fails.
func Open[S any](ctx context.Context, opts repo.Options, openDB func(dsn string) (*sql.DB, error),
	newStore func(context.Context, *sql.DB, repo.Options) (S, error)) (S, error) {
	db, err := openDB(opts.DSN)
	if err != nil {
		var zero S
		return zero, err
	}
	s, err := newStore(ctx, db, opts)
	if err != nil {
		db.Close()
	}
	return s, err
}

// RawOrNil turns a nullable JSON column into a json.RawMessage, nil for NULL.
func RawOrNil(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// NullString is b as a nullable column value: NULL for nil.
func NullString(b []byte) sql.NullString {
	if b == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// CeilUTC rounds t up to a multiple of unit, in UTC. A column of precision unit holds values
// that are multiples of unit, so "column < t" and "column < CeilUTC(t, unit)" select the same
// rows, while a driver that truncates t to the column's precision would lose the rows equal
// to the truncated value.
func CeilUTC(t time.Time, unit time.Duration) time.Time {
	t = t.UTC()
	if r := t.Truncate(unit); !r.Equal(t) {
		return r.Add(unit)
	}
	return t
}

// UTC is the toUTC of drivers that read time columns as time.Time with the right zone.
func UTC(t time.Time) (time.Time, error) { return t.UTC(), nil }
