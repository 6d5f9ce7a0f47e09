// Package sqlite is the process_store on SQLite (modernc.org/sqlite, pure Go, driver name
// "sqlite"), for single-host deployments and tests. Several processes may share one database
// file: DSN turns on WAL, a busy timeout and BEGIN IMMEDIATE transactions, so writers wait
// for each other instead of failing with SQLITE_BUSY.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/storeutil"
)

// DriverName is the database/sql driver the store uses.
const DriverName = "sqlite"

// BusyTimeoutDefault is how long a connection waits for another writer before SQLITE_BUSY,
// when the DSN does not say.
const BusyTimeoutDefault = 10 * time.Second

// timeFormat is how times are stored: strftime('%Y-%m-%dT%H:%M:%fZ'), always UTC, fixed width.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Store is the SQLite process_store. It implements repo.Store.
type Store struct {
	db      *sql.DB
	owner   string
	maxBody int
	gate    chan struct{} // this process's write gate for the database file
}

// gates holds one write gate per database file (its absolute path) in this process.
//
// SQLite lets one writer in at a time. A connection that finds the write lock taken retries
// after sleeps of growing length until busy_timeout runs out, which is unfair: with dozens of
// writers in one process, some starve past the timeout (SQLITE_BUSY; the conformance suite's
// 50-goroutine races hit it). Queuing this process's writers on a gate first leaves
// busy_timeout to arbitrate between processes only. Every Store on the same file shares the
// gate, whatever DSN spelling or pool it was opened with.
var gates sync.Map // string -> chan struct{}

func gateFor(file string) chan struct{} {
	if file == "" { // in-memory or temporary: private to its pool
		return make(chan struct{}, 1)
	}
	g, _ := gates.LoadOrStore(file, make(chan struct{}, 1))
	return g.(chan struct{})
}

// write runs fn holding the write gate.
func (s *Store) write(ctx context.Context, fn func() error) error {
	select {
	case s.gate <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.gate }()
	return fn()
}

var _ repo.Store = (*Store)(nil)

// DSN returns dsn (a file path, or a "file:" URI) with the settings the store needs added
// unless dsn sets them itself: _pragma=busy_timeout(10000) so writers wait for each other,
// _pragma=journal_mode(WAL) so readers do not block the writer, and _txlock=immediate so a
// transaction takes the write lock when it begins (a deferred transaction that upgrades later
// fails with SQLITE_BUSY without waiting).
func DSN(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("sqlite: empty DSN: give a file path or a file: URI")
	}
	_, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("sqlite: DSN query %q: %w", rawQuery, err)
	}
	hasPragma := func(name string, aliases ...string) bool {
		for _, p := range q["_pragma"] {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name) {
				return true
			}
		}
		for _, a := range aliases {
			if q.Has(a) {
				return true
			}
		}
		return false
	}
	var add []string
	if !hasPragma("busy_timeout", "_busy_timeout", "_timeout") {
		add = append(add, fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeoutDefault.Milliseconds()))
	}
	if !hasPragma("journal_mode", "_journal_mode", "_journal") && !isMemory(dsn) {
		add = append(add, "_pragma=journal_mode(WAL)")
	}
	if !q.Has("_txlock") {
		add = append(add, "_txlock=immediate")
	}
	if len(add) == 0 {
		return dsn, nil
	}
	sep := "?"
	if rawQuery != "" {
		sep = "&"
	} else if strings.HasSuffix(dsn, "?") {
		sep = ""
	}
	return dsn + sep + strings.Join(add, "&"), nil
}

func isMemory(dsn string) bool {
	return strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
}

// OpenDB opens a pool on dsn after DSN has added the store's settings. An in-memory database
// gets a single connection, since each connection to ":memory:" is a database of its own.
func OpenDB(dsn string) (*sql.DB, error) {
	full, err := DSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(DriverName, full)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if isMemory(dsn) {
		db.SetMaxOpenConns(1)
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

// New returns the store on db, which it owns from then on (Close closes it). db should come
// from OpenDB, or carry the same settings. opts.Driver and opts.DSN are not used. New checks
// opts and pings the database.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (*Store, error) {
	opts = opts.WithDefaults()
	if err := opts.ValidateCommon(); err != nil {
		return nil, err
	}
	var file string
	if err := db.QueryRowContext(ctx, sqlMainFile).Scan(&file); err != nil {
		return nil, fmt.Errorf("sqlite: find the database file: %w", err)
	}
	return &Store{db: db, owner: opts.Owner, maxBody: opts.MaxBodyBytes, gate: gateFor(file)}, nil
}

// DB returns the pool, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Create registers a wait. The rule, as in every dialect: insert a PENDING row; if the id
// exists and is PENDING, refresh updated_at and owner (started_at stays); if it exists and is
// finished, change nothing and return it as it is. A finished row is never reset to PENDING.
func (s *Store) Create(ctx context.Context, id string) (repo.Record, error) {
	if err := repo.ValidateID(id); err != nil {
		return repo.Record{}, fmt.Errorf("create: %w", err)
	}
	rec, err := storeutil.Upsert(ctx,
		func(ctx context.Context) (repo.Record, bool, error) {
			var rec repo.Record
			err := s.write(ctx, func() error {
				var err error
				rec, err = scanRecord(s.db.QueryRowContext(ctx, sqlCreate, id, s.owner))
				return err
			})
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

// Complete moves a PENDING row to DONE; see repo.Store.
func (s *Store) Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error) {
	return s.transition(ctx, "complete", sqlComplete, id, "payload", payload)
}

// Fail moves a PENDING row to ERROR; see repo.Store.
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
		func(ctx context.Context) (int64, error) { return s.exec(ctx, stmt, id, string(body)) },
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

// InsertFinished inserts a DONE or ERROR row without owner unless the id exists; see
// repo.Store.
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
	n, err := s.exec(ctx, sqlInsertFinished, id, string(status), nullString(payload), nullString(errBody))
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

// Statuses reads many rows, one statement per chunk of repo.StatusesChunkSize ids.
func (s *Store) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	ids, err := storeutil.CheckIDs(ids)
	if err != nil {
		return nil, err
	}
	var out []repo.Record
	for _, chunk := range storeutil.Chunks(ids, repo.StatusesChunkSize) {
		arr, err := json.Marshal(chunk)
		if err != nil {
			return nil, fmt.Errorf("statuses: %w", err)
		}
		out, err = s.query(ctx, out, sqlStatuses, string(arr))
		if err != nil {
			return nil, fmt.Errorf("statuses of %d ids: %w", len(chunk), err)
		}
	}
	return out, nil
}

// List returns one keyset page ordered by correlation id (byte order).
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

// ClearOwned marks ERROR every PENDING row of this store's owner.
func (s *Store) ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error) {
	if err := repo.ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("clear owned: %w", err)
	}
	n, err := s.exec(ctx, sqlClearOwned, s.owner, string(errBody))
	if err != nil {
		return 0, fmt.Errorf("clear owned by %s: %w", s.owner, err)
	}
	return n, nil
}

// DeleteFinishedBefore deletes at most batch finished rows with updated_at before cutoff.
func (s *Store) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if err := storeutil.CheckBatch("delete finished", batch); err != nil {
		return 0, err
	}
	n, err := s.exec(ctx, sqlDeleteFinishedBefore, formatTime(cutoff), batch)
	if err != nil {
		return 0, fmt.Errorf("delete finished before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// ExpirePendingBefore marks ERROR at most batch PENDING rows with started_at before cutoff.
func (s *Store) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error) {
	if err := storeutil.CheckBatch("expire pending", batch); err != nil {
		return 0, err
	}
	if err := repo.ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("expire pending: %w", err)
	}
	n, err := s.exec(ctx, sqlExpirePendingBefore, formatTime(cutoff), batch, string(errBody))
	if err != nil {
		return 0, fmt.Errorf("expire pending before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// exec runs a write statement holding the write gate and returns the rows it changed.
func (s *Store) exec(ctx context.Context, stmt string, args ...any) (n int64, err error) {
	err = s.write(ctx, func() error {
		res, err := s.db.ExecContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
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
		started, updated        string
	)
	if err := row.Scan(&rec.CorrelationID, &status, &payload, &errBody, &owner, &started, &updated); err != nil {
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
	var err error
	if rec.StartedAt, err = parseTime(started); err != nil {
		return repo.Record{}, fmt.Errorf("started_at of %s: %w", rec.CorrelationID, err)
	}
	if rec.UpdatedAt, err = parseTime(updated); err != nil {
		return repo.Record{}, fmt.Errorf("updated_at of %s: %w", rec.CorrelationID, err)
	}
	return rec, nil
}

// formatTime renders a cutoff in the stored form. Stored times have millisecond precision,
// so rounding the cutoff up to the millisecond selects exactly the rows before it.
func formatTime(t time.Time) string {
	return storeutil.CeilUTC(t, time.Millisecond).Format(timeFormat)
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

func nullString(b []byte) sql.NullString {
	if b == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}
