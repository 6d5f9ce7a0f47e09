// Package dialect is the contract between the migration engine (package migrations) and one
// dialect's schema package (migrations/sqlite, migrations/postgres, migrations/mssql): the
// files to apply and how to lock and record versions on that dialect.
package dialect

import (
	"context"
	"database/sql"
	"io/fs"
)

// Table is the table that records the applied version and the dirty flag, in
// golang-migrate's layout (version, dirty): process_store_migrations, not golang-migrate's
// default schema_migrations, so it cannot collide with a host application's own migrations.
const Table = "process_store_migrations"

// LockID derives an advisory lock key from names (golang-migrate's
// database.GenerateAdvisoryLockId).
type LockID func(databaseName string, additionalNames ...string) (string, error)

// Dialect is one dialect's side of the migration engine.
type Dialect struct {
	// Name is the dialect's Options.Driver value ("sqlite", "postgres", "mssql").
	Name string
	// FS holds the dialect's NNN_name.up.sql files at its root.
	FS fs.FS
	// Lock takes the cross-process migration lock on conn, waiting as long as ctx allows,
	// and returns what releases it; failed tells unlock that a migration or version write
	// failed while locked. lockID is golang-migrate's database.GenerateAdvisoryLockId,
	// handed over by the engine so that the schema packages import nothing of golang-migrate:
	// the stores import them for their MigrationFS, and a program that imports a store then
	// links no part of the migration engine.
	Lock func(ctx context.Context, conn *sql.Conn, lockID LockID) (unlock func(ctx context.Context, failed bool) error, err error)
	// TableExists selects one boolean: whether Table exists.
	TableExists string
	// CreateTable creates Table (run under the lock, only when TableExists said no).
	CreateTable string
	// SelectVersion selects version and dirty from Table's single row.
	SelectVersion string
	// DeleteVersion empties Table; InsertVersion inserts (version, dirty).
	DeleteVersion, InsertVersion string
	// VersionInLockTx is set when Lock opened a transaction that version writes must join
	// (SQLite); otherwise the engine writes versions in a transaction of its own, like
	// golang-migrate.
	VersionInLockTx bool
}
