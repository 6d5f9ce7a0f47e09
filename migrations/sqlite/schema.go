// Package sqlite is the SQLite schema of process_store: the embedded migration files
// (NNN_name.up.sql, applied in order by package migrations) and how package migrations locks
// and records versions on SQLite. The store (repo/sqlite) exposes the files as its
// MigrationFS.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"strconv"

	"github.com/camunda-waitroom/camunda-waitroom/migrations/internal/dialect"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files.
func FS() fs.FS { return files }

// busyTimeout is how long a migration waits for another writer (another process migrating,
// or the application writing) to release SQLite's write lock.
const busyTimeout = 30000 // milliseconds

// Dialect has no advisory lock to borrow, and golang-migrate's sqlite driver only locks
// within one process. Here the lock is SQLite's own write lock: BEGIN IMMEDIATE, which other
// connections and processes wait for through busy_timeout. The engine reads the version,
// applies the migrations and records the version inside that one transaction (SQLite DDL is
// transactional), and unlocking commits it, or rolls it back after a failure, so a failed Up
// leaves neither half a migration nor a dirty flag, and a second process starts only after
// the first committed and finds nothing to do.
var Dialect = dialect.Dialect{
	Name: "sqlite",
	FS:   files,
	Lock: func(ctx context.Context, conn *sql.Conn, _ dialect.LockID) (func(context.Context, bool) error, error) {
		var old int
		if err := conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&old); err != nil {
			return nil, err
		}
		restore := func(ctx context.Context) error {
			_, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(old))
			return err
		}
		if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(busyTimeout)); err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			return nil, errors.Join(err, restore(ctx))
		}
		return func(ctx context.Context, failed bool) error {
			end := `COMMIT`
			if failed {
				end = `ROLLBACK`
			}
			_, err := conn.ExecContext(ctx, end)
			return errors.Join(err, restore(ctx))
		}, nil
	},
	TableExists: `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '` + dialect.Table + `'`,
	// golang-migrate's sqlite layout, with an index name of our own.
	CreateTable: `CREATE TABLE IF NOT EXISTS ` + dialect.Table + ` (version uint64, dirty bool);
CREATE UNIQUE INDEX IF NOT EXISTS ` + dialect.Table + `_version ON ` + dialect.Table + ` (version);`,
	SelectVersion:   `SELECT version, dirty FROM ` + dialect.Table + ` LIMIT 1`,
	DeleteVersion:   `DELETE FROM ` + dialect.Table,
	InsertVersion:   `INSERT INTO ` + dialect.Table + ` (version, dirty) VALUES (?, ?)`,
	VersionInLockTx: true,
}
