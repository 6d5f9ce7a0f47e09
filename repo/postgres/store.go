// Package postgres is the process_store on PostgreSQL, through database/sql with the pgx/v5
// driver (github.com/jackc/pgx/v5/stdlib, driver name "pgx"): repo.SQLStore on this
// package's executor (exec.go, statements in sql.go and start_sql.go), and the store's push
// path (listen.go): LISTEN/NOTIFY, which a waitroom uses to wake waiters without polling.
//
// database/sql rather than pgxpool: the three dialects then share one shape (New takes a
// *sql.DB, migrations.Up takes the same pool). The listener, which needs pgx's native API,
// holds pgx connections of its own on the store's DSN.
//
// Complete, Fail, InsertFinished, ClearOwned and ExpirePendingBefore send
// pg_notify(NotifyChannel, correlation_id) for every row they finish, in the same
// statement, so a listener wakes when the change commits.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	schema "github.com/camunda-waitroom/camunda-waitroom/migrations/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// DriverName is the database/sql driver the store uses.
const DriverName = "pgx"

// Store is the PostgreSQL process_store: repo.SQLStore on this package's executor, with a
// listener when it knows its DSN (see SupportsListener).
type Store struct {
	*repo.SQLStore
	x   *executor
	dsn string // for the listener's and the publisher's own connections; "" without

	pubMu sync.Mutex
	pub   *publisher
	pid   atomic.Uint32 // backend pid of the latest LISTEN connection while it is up
}

var _ repo.Store = (*Store)(nil)

// OpenDB opens a pool on dsn, a URL (postgres://user:pass@host:5432/db?sslmode=verify-full)
// or keyword/value string (host=... dbname=...). The table is looked up through search_path,
// which the DSN may set (search_path=myschema). Pool sizes are the caller's to set.
func OpenDB(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("postgres: Options.DSN is empty: give a postgres:// URL or a keyword/value connection string")
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
	return sqlutil.Open(ctx, opts, OpenDB, New)
}

// New returns the store on db (opened with the "pgx" driver), which it owns from then on
// (Close closes it). It checks opts (repo.Options) before it touches the database, then
// pings. opts.DSN, when set, is what the listener connects to; without it the store has no
// listener.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (*Store, error) {
	x := &executor{db: db}
	core, err := repo.NewSQLStore(repo.Dialect{Name: repo.DriverPostgres, Exec: x}, opts)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return &Store{SQLStore: core, x: x, dsn: opts.DSN}, nil
}

// DB returns the pool, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.x.db }

// Close closes the publisher's connection, if any, and the pool.
func (s *Store) Close() error {
	s.pubMu.Lock()
	if s.pub != nil {
		s.pub.close()
		s.pub = nil
	}
	s.pubMu.Unlock()
	return s.SQLStore.Close()
}

// MigrationFS returns the PostgreSQL migration files (migrations/postgres), which
// migrations.Up applies.
func MigrationFS() fs.FS { return schema.FS() }
