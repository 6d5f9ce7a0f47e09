// Package postgres is the process_store on PostgreSQL, through database/sql with the pgx/v5
// driver (github.com/jackc/pgx/v5/stdlib, driver name "pgx").
//
// database/sql rather than pgxpool: the three dialects then share one shape (New takes a
// *sql.DB, migrations.Up takes the same pool), and nothing here needs pgx's native API: the
// LISTEN side, which does, belongs to the waitroom and holds its own pgx connection.
//
// Complete, Fail, InsertFinished, ClearOwned and ExpirePendingBefore send
// pg_notify(repo.NotifyChannel, correlation_id) for every row they finish, in the same
// statement, so a LISTENing waitroom wakes when the change commits.
package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/storeutil"
)

// DriverName is the database/sql driver the store uses.
const DriverName = "pgx"

// Store is the PostgreSQL process_store. It implements repo.Store.
type Store struct {
	db      *sql.DB
	owner   string
	maxBody int
}

var _ repo.Store = (*Store)(nil)

// OpenDB opens a pool on dsn, a URL (postgres://user:pass@host:5432/db?sslmode=verify-full)
// or keyword/value string (host=... dbname=...). The table is looked up through search_path,
// which the DSN may set (search_path=myschema). Pool sizes are the caller's to set.
func OpenDB(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return db, nil
}

// Open opens opts.DSN with OpenDB and returns the store on it. It does not migrate: run
// migrations.Up first (stores.Open does when opts.Migrate is set).
func Open(ctx context.Context, opts repo.Options) (*Store, error) {
	db, err := OpenDB(opts.DSN)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// New returns the store on db (opened with the "pgx" driver), which it owns from then on
// (Close closes it). opts.Driver and opts.DSN are not used. New checks opts and pings.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (*Store, error) {
	opts = opts.WithDefaults()
	if err := opts.ValidateCommon(); err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return &Store{db: db, owner: opts.Owner, maxBody: opts.MaxBodyBytes}, nil
}

// DB returns the pool, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Create registers a wait. The rule, as in every dialect: insert a PENDING row; if the id
// exists and is PENDING, refresh updated_at and owner (started_at stays); if it exists and is
// finished, change nothing and return it as it is. A finished row is never reset to PENDING.
// One INSERT ... ON CONFLICT DO UPDATE ... WHERE status = 'PENDING' statement, which is safe
// under concurrent Creates of one id.
func (s *Store) Create(ctx context.Context, id string) (repo.Record, error) {
	if err := repo.ValidateID(id); err != nil {
		return repo.Record{}, fmt.Errorf("create: %w", err)
	}
	rec, err := storeutil.Upsert(ctx,
		func(ctx context.Context) (repo.Record, bool, error) {
			rec, err := scanRecord(s.db.QueryRowContext(ctx, sqlCreate, id, s.owner))
			if errors.Is(err, sql.ErrNoRows) {
				return repo.Record{}, false, nil
			}
			return rec, err == nil, err
		},
		func(ctx context.Context) (repo.Record, error) { return s.find(ctx, id) })
	if err != nil {
		return repo.Record{}, fmt.Errorf("create %s: %w", id, err)
	}
	return rec, nil
}

// Complete moves a PENDING row to DONE and notifies; see repo.Store.
func (s *Store) Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error) {
	return s.transition(ctx, "complete", sqlComplete, id, "payload", payload)
}

// Fail moves a PENDING row to ERROR and notifies; see repo.Store.
func (s *Store) Fail(ctx context.Context, id string, errBody json.RawMessage) (repo.Outcome, error) {
	return s.transition(ctx, "fail", sqlFail, id, "error body", errBody)
}

func (s *Store) transition(ctx context.Context, op, stmt, id, bodyName string, body json.RawMessage) (repo.Outcome, error) {
	if err := repo.ValidateID(id); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := repo.ValidateBody(bodyName, body, s.maxBody); err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, id, err)
	}
	out, err := storeutil.Transition(ctx,
		func(ctx context.Context) (int64, error) {
			return s.count(ctx, stmt, id, string(body), repo.NotifyChannel)
		},
		func(ctx context.Context) (repo.Status, bool, error) { return s.statusOf(ctx, id) })
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return out, nil
}

func (s *Store) statusOf(ctx context.Context, id string) (repo.Status, bool, error) {
	var st string
	switch err := s.db.QueryRowContext(ctx, sqlStatusOf, id).Scan(&st); {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return repo.Status(st), true, nil
}

// InsertFinished inserts a DONE or ERROR row without owner unless the id exists, and
// notifies when it did; see repo.Store.
func (s *Store) InsertFinished(ctx context.Context, id string, status repo.Status, body json.RawMessage) (bool, error) {
	if err := repo.ValidateID(id); err != nil {
		return false, fmt.Errorf("insert finished: %w", err)
	}
	if err := storeutil.CheckFinished(status); err != nil {
		return false, err
	}
	if err := repo.ValidateBody(storeutil.BodyName(status), body, s.maxBody); err != nil {
		return false, fmt.Errorf("insert finished %s: %w", id, err)
	}
	payload, errBody := storeutil.FinishedBodies(status, body)
	n, err := s.count(ctx, sqlInsertFinished, id, string(status), nullString(payload), nullString(errBody), repo.NotifyChannel)
	if err != nil {
		return false, fmt.Errorf("insert finished %s: %w", id, err)
	}
	return n == 1, nil
}

// Find returns one row or an error wrapping repo.ErrNotFound.
func (s *Store) Find(ctx context.Context, id string) (repo.Record, error) {
	if err := repo.ValidateID(id); err != nil {
		return repo.Record{}, fmt.Errorf("find: %w", err)
	}
	rec, err := s.find(ctx, id)
	if err != nil {
		return repo.Record{}, fmt.Errorf("find %s: %w", id, err)
	}
	return rec, nil
}

func (s *Store) find(ctx context.Context, id string) (repo.Record, error) {
	rec, err := scanRecord(s.db.QueryRowContext(ctx, sqlFind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return repo.Record{}, repo.ErrNotFound
	}
	return rec, err
}

// Statuses reads many rows, one statement (= ANY($1::text[])) per chunk of
// repo.StatusesChunkSize ids.
func (s *Store) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	ids, err := storeutil.CheckIDs(ids)
	if err != nil {
		return nil, err
	}
	var out []repo.Record
	for _, chunk := range storeutil.Chunks(ids, repo.StatusesChunkSize) {
		out, err = s.query(ctx, out, sqlStatuses, chunk)
		if err != nil {
			return nil, fmt.Errorf("statuses of %d ids: %w", len(chunk), err)
		}
	}
	return out, nil
}

// List returns one keyset page ordered by correlation id (the column's collation, "C" in the
// migrations: byte order).
func (s *Store) List(ctx context.Context, opts repo.ListOptions) ([]repo.Record, string, error) {
	opts, err := storeutil.CheckList(opts)
	if err != nil {
		return nil, "", err
	}
	var rows []repo.Record
	if opts.Status == "" {
		rows, err = s.query(ctx, nil, sqlList, opts.After, opts.Limit+1)
	} else {
		rows, err = s.query(ctx, nil, sqlListStatus, opts.After, opts.Limit+1, string(opts.Status))
	}
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	rows, next := storeutil.Page(rows, opts.Limit)
	return rows, next, nil
}

// Delete removes one row and reports whether it existed.
func (s *Store) Delete(ctx context.Context, id string) (bool, error) {
	if err := repo.ValidateID(id); err != nil {
		return false, fmt.Errorf("delete: %w", err)
	}
	n, err := s.exec(ctx, sqlDelete, id)
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", id, err)
	}
	return n == 1, nil
}

// PendingCount counts PENDING rows of every owner.
func (s *Store) PendingCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, sqlPendingCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("pending count: %w", err)
	}
	return n, nil
}

// ClearOwned marks ERROR every PENDING row of this store's owner, and notifies each.
func (s *Store) ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error) {
	if err := repo.ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("clear owned: %w", err)
	}
	n, err := s.count(ctx, sqlClearOwned, s.owner, string(errBody), repo.NotifyChannel)
	if err != nil {
		return 0, fmt.Errorf("clear owned by %s: %w", s.owner, err)
	}
	return n, nil
}

// DeleteFinishedBefore deletes at most batch finished rows with updated_at before cutoff,
// skipping rows another replica has locked.
func (s *Store) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if err := storeutil.CheckBatch("delete finished", batch); err != nil {
		return 0, err
	}
	n, err := s.exec(ctx, sqlDeleteFinishedBefore, cutoffArg(cutoff), batch)
	if err != nil {
		return 0, fmt.Errorf("delete finished before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// ExpirePendingBefore marks ERROR at most batch PENDING rows with started_at before cutoff,
// skipping rows another replica has locked, and notifies each.
func (s *Store) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error) {
	if err := storeutil.CheckBatch("expire pending", batch); err != nil {
		return 0, err
	}
	if err := repo.ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("expire pending: %w", err)
	}
	n, err := s.count(ctx, sqlExpirePendingBefore, cutoffArg(cutoff), batch, string(errBody), repo.NotifyChannel)
	if err != nil {
		return 0, fmt.Errorf("expire pending before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// cutoffArg rounds a cutoff up to the microsecond, timestamptz's precision, so that
// "column < cutoff" keeps its meaning when the driver drops the nanoseconds.
func cutoffArg(t time.Time) time.Time { return storeutil.CeilUTC(t, time.Microsecond) }

func (s *Store) exec(ctx context.Context, stmt string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// count runs a statement that returns one count.
func (s *Store) count(ctx context.Context, stmt string, args ...any) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, stmt, args...).Scan(&n)
	return n, err
}

func (s *Store) query(ctx context.Context, out []repo.Record, stmt string, args ...any) ([]repo.Record, error) {
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

func scanRecord(row interface{ Scan(...any) error }) (repo.Record, error) {
	var (
		rec                     repo.Record
		status                  string
		payload, errBody, owner sql.NullString
	)
	if err := row.Scan(&rec.CorrelationID, &status, &payload, &errBody, &owner, &rec.StartedAt, &rec.UpdatedAt); err != nil {
		return repo.Record{}, err
	}
	rec.Status = repo.Status(status)
	if payload.Valid {
		rec.Payload = json.RawMessage(payload.String)
	}
	if errBody.Valid {
		rec.Error = json.RawMessage(errBody.String)
	}
	rec.Owner = owner.String
	rec.StartedAt, rec.UpdatedAt = rec.StartedAt.UTC(), rec.UpdatedAt.UTC()
	return rec, nil
}

func nullString(b []byte) sql.NullString {
	if b == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}
