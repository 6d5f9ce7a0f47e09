// Package stores opens the repo.Store for Options.Driver, for the worker daemon, whose
// configuration names the dialect. It imports every dialect package and so links all three
// SQL drivers: a program that knows its dialect (a front service) imports that dialect's
// package instead, and nothing that package or the waitroom imports leads here.
package stores

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/mssql"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

// Open opens a pool for opts.Driver on opts.DSN, applies the migrations when opts.Migrate is
// set, and returns the store, which owns the pool (Close closes it). Options are checked as
// the dialect's New checks them (repo.Options), before the first statement and before any
// migration.
//
// DSN forms: sqlite a file path or "file:/path/waitroom.db" URI (the store adds WAL,
// busy_timeout and _txlock=immediate unless the DSN sets them); postgres
// "postgres://user:pass@host:5432/db?sslmode=verify-full" or "host=... dbname=..." (the
// table is found through search_path); mssql
// "sqlserver://user:pass@host:1433?database=db&encrypt=true".
func Open(ctx context.Context, opts repo.Options) (repo.Store, error) {
	db, err := openDB(opts.Driver, opts.DSN)
	if err != nil {
		return nil, err
	}
	st, err := New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	// After New, so that bad options or a database the store cannot run on change nothing.
	if opts.Migrate {
		if err := migrations.Up(ctx, db, opts.Driver); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// OpenDB opens a pool for driver on dsn with the settings its store needs and pings it
// within ctx, for callers that want the pool itself (to run migrations.Up or
// migrations.Status). The caller closes it.
func OpenDB(ctx context.Context, driver, dsn string) (*sql.DB, error) {
	db, err := openDB(driver, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("stores: %s: ping: %w", driver, err)
	}
	return db, nil
}

func openDB(driver, dsn string) (*sql.DB, error) {
	switch driver {
	case repo.DriverSQLite:
		return sqlite.OpenDB(dsn)
	case repo.DriverPostgres:
		return postgres.OpenDB(dsn)
	case repo.DriverMSSQL:
		return mssql.OpenDB(dsn)
	}
	return nil, repo.UnknownDriver(driver)
}

// New returns the store for opts.Driver on db, a pool from OpenDB, which the store owns from
// then on. It does not migrate (opts.Migrate is not used), so that a caller can run
// migrations.Up under a deadline of its own: the daemon gives migrations a longer one than
// the open. It checks opts and the database as the dialect's New does (SQL Server: the
// compatibility level), without closing db on failure.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (repo.Store, error) {
	// Each branch returns its own *Store; converting a nil one to repo.Store would give a
	// non-nil interface, so errors return a nil interface explicitly.
	switch opts.Driver {
	case repo.DriverSQLite:
		st, err := sqlite.New(ctx, db, opts)
		if err != nil {
			return nil, err
		}
		return st, nil
	case repo.DriverPostgres:
		st, err := postgres.New(ctx, db, opts)
		if err != nil {
			return nil, err
		}
		return st, nil
	case repo.DriverMSSQL:
		st, err := mssql.New(ctx, db, opts)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, repo.UnknownDriver(opts.Driver)
}
