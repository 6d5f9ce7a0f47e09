// Package sqlite is the process_store on SQLite (modernc.org/sqlite, pure Go, driver name
// "sqlite"), for single-host deployments and tests. Several processes may share one database
// file: DSN turns on WAL, a busy timeout and BEGIN IMMEDIATE transactions, so writers wait
// for each other instead of failing with SQLITE_BUSY.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	schema "github.com/camunda-waitroom/camunda-waitroom/migrations/sqlite"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// DriverName is the database/sql driver the store uses.
const DriverName = "sqlite"

// BusyTimeoutDefault is how long a connection waits for another writer before SQLITE_BUSY,
// when the DSN does not say.
const BusyTimeoutDefault = 10 * time.Second

// timeFormat is how times are stored: strftime('%Y-%m-%dT%H:%M:%fZ'), always UTC, fixed width.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Store is the SQLite process_store: repo.SQLStore on this package's executor. It has no
// listener (SQLite has no notifications): waiters poll.
type Store struct {
	*repo.SQLStore
	x *executor
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

var _ repo.Store = (*Store)(nil)

// DSN returns dsn (a file path, or a "file:" URI) with the settings the store needs added
// unless dsn sets them itself: _pragma=busy_timeout(10000) so writers wait for each other,
// _pragma=journal_mode(WAL) so readers do not block the writer, and _txlock=immediate so a
// transaction takes the write lock when it begins (a deferred transaction that upgrades later
// fails with SQLITE_BUSY without waiting).
func DSN(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("sqlite: Options.DSN is empty: give a file path or a file: URI")
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
	return sqlutil.Open(ctx, opts, OpenDB, New)
}

// New returns the store on db, which it owns from then on (Close closes it). db should come
// from OpenDB, or carry the same settings. New checks opts (repo.Options; DSN is not used)
// before it touches the database, then finds the database file to key the write gate.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (*Store, error) {
	x := &executor{db: db}
	core, err := repo.NewSQLStore(repo.Dialect{Name: repo.DriverSQLite, Exec: x}, opts)
	if err != nil {
		return nil, err
	}
	var file string
	if err := db.QueryRowContext(ctx, sqlMainFile).Scan(&file); err != nil {
		return nil, fmt.Errorf("sqlite: find the database file: %w", err)
	}
	x.gate = gateFor(file)
	return &Store{SQLStore: core, x: x}, nil
}

// DB returns the pool, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.x.db }

// MigrationFS returns the SQLite migration files (migrations/sqlite), which migrations.Up
// applies.
func MigrationFS() fs.FS { return schema.FS() }

// SupportsListener reports false: SQLite has no notifications, so waiters on this store
// poll (see package waitroom).
func (s *Store) SupportsListener() bool { return false }
