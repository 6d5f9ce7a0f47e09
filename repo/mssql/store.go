// Package mssql is the process_store on SQL Server and Azure SQL
// (github.com/microsoft/go-mssqldb, driver name "sqlserver", or "azuresql" for Entra ID
// logins), on the Node.js service's table dbo.process_store: repo.SQLStore on this package's
// executor (exec.go), with the statements and their rules (sql.go, start_sql.go), typed
// arguments (args.go, start_args.go), the retry classification (retry.go) and the check of
// the database's settings (settings.go). It has no listener: waiters poll.
//
// Honesty note: no SQL Server was at hand to run this store against. The statements
// follow the rules written at the top of sql.go (READCOMMITTEDLOCK with every READPAST;
// exact, binary id comparison; UPDLOCK, HOLDLOCK upsert; OPENJSON batched reads; capped TOP
// batches; typed NULLs; retried transient errors), store_test.go checks them and their
// argument types as text and drives the Go side against a fake driver, and the shared
// conformance suite runs against a real server only when WAITROOM_TEST_MSSQL_DSN is set.
// Their behaviour on SQL Server has not been observed.
package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/microsoft/go-mssqldb/msdsn"

	schema "github.com/camunda-waitroom/camunda-waitroom/migrations/mssql"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/sqlutil"
)

// DriverName is the database/sql driver the store uses: go-mssqldb's "sqlserver", which
// takes @name parameters.
const DriverName = "sqlserver"

// EntraDriverName is go-mssqldb's driver for Microsoft Entra ID (Azure AD) logins, registered
// by importing github.com/microsoft/go-mssqldb/azuread. OpenDB uses it when the DSN has a
// fedauth parameter. This package does not import azuread itself, so that a program using
// the store with SQL logins does not link the Azure SDK; the worker daemon imports it.
const EntraDriverName = "azuresql"

// Store is the SQL Server process_store: repo.SQLStore on this package's executor, with
// SQL Server's retry classification and batch cap.
type Store struct {
	*repo.SQLStore
	x     *executor
	retry retryPolicy
}

var _ repo.Store = (*Store)(nil)

// OpenDB opens a pool on dsn, e.g.
// "sqlserver://user:pass@host:1433?database=camunda_db&encrypt=true&app+name=waitroom"
// (encrypt=true or strict in production; TrustServerCertificate=true only in tests; "app
// name" shows the service in sys.dm_exec_sessions). A DSN with a fedauth parameter (an
// Entra ID login, e.g. "sqlserver://host?database=db&fedauth=ActiveDirectoryDefault") opens
// with EntraDriverName, which the program must register by importing
// github.com/microsoft/go-mssqldb/azuread; OpenDB says so when it is missing. The database
// needs compatibility level 130 or later; New checks.
func OpenDB(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("mssql: Options.DSN is empty: give a sqlserver:// URL")
	}
	name, err := driverFor(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(name, dsn)
	if err != nil {
		return nil, fmt.Errorf("mssql: open: %w", err)
	}
	return db, nil
}

// driverFor picks the driver for dsn: EntraDriverName when it has a fedauth parameter.
func driverFor(dsn string) (string, error) {
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		// The driver reports the same problem, with more context, when it connects.
		return DriverName, nil
	}
	fedauth := cfg.Parameters["fedauth"]
	if fedauth == "" {
		return DriverName, nil
	}
	if !slices.Contains(sql.Drivers(), EntraDriverName) {
		return "", fmt.Errorf("mssql: the DSN asks for an Entra ID login (fedauth=%s), but the %q driver is not registered: import _ \"github.com/microsoft/go-mssqldb/azuread\" in the program (the worker daemon does)",
			fedauth, EntraDriverName)
	}
	return EntraDriverName, nil
}

// Open opens opts.DSN with OpenDB and returns the store on it. It does not migrate: run
// migrations.Up first (stores.Open does when opts.Migrate is set).
func Open(ctx context.Context, opts repo.Options) (*Store, error) {
	return sqlutil.Open(ctx, opts, OpenDB, New)
}

// New returns the store on db (opened with OpenDB), which it owns from then on (Close
// closes it). It checks opts (repo.Options; DSN is not used) before it touches the database,
// pings, and reads the database's Settings: it refuses a compatibility level below
// MinCompatibilityLevel with an error wrapping repo.ErrUnsupportedDatabase that says what to
// run.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (*Store, error) {
	return newStore(ctx, db, opts, defaultRetry)
}

func newStore(ctx context.Context, db *sql.DB, opts repo.Options, p retryPolicy) (*Store, error) {
	s, err := build(db, opts, p)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("mssql: ping: %w", err)
	}
	set, err := readSettings(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("mssql: %w", err)
	}
	if err := set.check(); err != nil {
		return nil, fmt.Errorf("mssql: %w", err)
	}
	s.x.settings = set
	return s, nil
}

// build assembles the store on db without touching the database.
func build(db *sql.DB, opts repo.Options, p retryPolicy) (*Store, error) {
	x := &executor{db: db}
	core, err := repo.NewSQLStore(repo.Dialect{
		Name:              repo.DriverMSSQL,
		Exec:              x,
		MaxStatementBatch: maxStatementBatch, // rule 6 of sql.go
		Retry:             p.repo(),          // rule 5 of sql.go
	}, opts)
	if err != nil {
		return nil, err
	}
	return &Store{SQLStore: core, x: x, retry: p}, nil
}

// Settings returns what New read from the database.
func (s *Store) Settings() Settings { return s.x.settings }

// IDsFoldCase reports whether correlation_id's collation ignores letter case, so that the
// table cannot hold two ids that differ only in case (the second gets repo.ErrIDConflict).
// The conformance suite (repotest.CaseFolder) reads it.
func (s *Store) IDsFoldCase() bool { return s.x.settings.IDCaseInsensitive }

// DB returns the pool, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.x.db }

// SupportsListener reports false: the store sends no notifications, so waiters on it poll
// (see package waitroom).
func (s *Store) SupportsListener() bool { return false }

// MigrationFS returns the SQL Server migration files (migrations/mssql), which migrations.Up
// applies.
func MigrationFS() fs.FS { return schema.FS() }
