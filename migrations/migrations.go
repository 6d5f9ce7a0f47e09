// Package migrations applies the process_store schema of each dialect with golang-migrate's
// engine. The schema itself is the dialect's: migrations/mssql, migrations/postgres and
// migrations/sqlite each hold their embedded SQL files (NNN_name.up.sql, applied in order,
// never edited once released; later migrations only add) and the lock and version-table
// statements this engine uses on that dialect, and the store of that dialect exposes the
// files as its MigrationFS. This package names a dialect by its Options.Driver value and
// links no SQL driver: the caller's pool brings its own.
//
// The version is recorded in the table process_store_migrations (Table), not golang-migrate's
// default schema_migrations, so it cannot collide with a host application's own migrations.
//
// golang-migrate's engine and its iofs source are used as they are. Its database drivers are
// not, and a small replacement lives in driver.go, for two reasons:
//
//   - Its pgx/v5, sqlserver and sqlite drivers take a *sql.DB and close it in Close; Up and
//     Status here work on the caller's pool, which must stay open. (Skipping Close instead
//     would leak the *sql.Conn they check out of that pool for their lock.) The sqlserver
//     driver also pulls in github.com/Azure/go-autorest/autorest/adal for managed identities.
//   - Its sqlite driver's lock is an in-process flag, so two processes migrating one file race:
//     both run ALTER TABLE ADD COLUMN, one fails and can leave the version marked dirty.
//
// The dialects take the same locks as golang-migrate's drivers, with the same statements:
// PostgreSQL pg_advisory_lock on one session (database/pgx/v5/pgx.go Lock), SQL Server
// sp_getapplock with @LockOwner = 'Session' and @LockTimeout = -1 (database/sqlserver/
// sqlserver.go Lock), so concurrent Up calls from many processes wait for each other and the
// later ones find nothing to do. SQLite has no advisory lock; there the whole Up runs in one
// BEGIN IMMEDIATE transaction (SQLite's write lock, which other processes wait for through
// busy_timeout), so a migration and its version commit together or not at all.
package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/camunda-waitroom/camunda-waitroom/migrations/internal/dialect"
	"github.com/camunda-waitroom/camunda-waitroom/migrations/mssql"
	"github.com/camunda-waitroom/camunda-waitroom/migrations/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/migrations/sqlite"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// Table is the table that records the applied version and the dirty flag, in golang-migrate's
// layout (version, dirty).
const Table = dialect.Table

// dialects are the dialects' schemas, by Options.Driver value.
var dialects = map[string]*dialect.Dialect{
	repo.DriverMSSQL:    &mssql.Dialect,
	repo.DriverPostgres: &postgres.Dialect,
	repo.DriverSQLite:   &sqlite.Dialect,
}

// StatusReport describes a database's migration state.
type StatusReport struct {
	// Current is the version applied last; 0 when none was.
	Current uint
	// Latest is the highest version embedded for the dialect.
	Latest uint
	// Dirty is set when a migration started and did not finish (golang-migrate's dirty flag):
	// Up refuses to run until someone checks the schema and clears it.
	Dirty bool
	// Pending lists the file names of the migrations Up would apply, in order.
	Pending []string
}

// FS returns the embedded migration files of one dialect ("mssql", "postgres" or "sqlite").
func FS(driver string) (fs.FS, error) {
	d, err := dialectFor(driver)
	if err != nil {
		return nil, err
	}
	return d.FS, nil
}

// Up applies every migration of the dialect that the database has not applied yet. Running it
// again, or from several processes at once, is safe: each waits for the migration lock and
// the later ones find nothing to do. db stays open; Up borrows one connection for the lock.
func Up(ctx context.Context, db *sql.DB, driver string) (err error) {
	d, err := dialectFor(driver)
	if err != nil {
		return err
	}
	src, err := iofs.New(d.FS, ".")
	if err != nil {
		return fmt.Errorf("migrations: read embedded %s files: %w", driver, err)
	}
	defer src.Close()

	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %s: get a connection: %w", driver, err)
	}
	drv := &connDriver{ctx: ctx, conn: conn, d: d}
	defer func() {
		if rerr := drv.release(); rerr != nil && err == nil {
			err = fmt.Errorf("migrations: %s: release the migration connection: %w", driver, rerr)
		}
	}()

	m, err := migrate.NewWithInstance("iofs", src, driver, drv)
	if err != nil {
		return fmt.Errorf("migrations: %s: %w", driver, err)
	}
	// The engine's lock timeout would return while the Lock call goes on in the background and
	// may still take the lock; let ctx bound the wait instead (Lock passes it to the database).
	m.LockTimeout = time.Duration(math.MaxInt64)
	// One migration per engine call (Steps(1)), under one lock held from the first call to
	// release: the engine's Up reads the next migration ahead into a pipe while it runs the
	// current one, and when the current one fails nothing ever reads that pipe, which leaks
	// the goroutine writing it. Steps(1) reads only the migration it runs.
	drv.hold = true
	for {
		err = m.Steps(1)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrNotExist) { // no next migration: up to date
			return nil
		}
		break
	}
	var dirty migrate.ErrDirty
	if errors.As(err, &dirty) {
		return fmt.Errorf("migrations: %s: version %d is marked dirty in %s: a migration failed partway (cut off, or an error); check the schema against %s/%03d_*.up.sql, then either finish it by hand and run 'worker migrate force %d', or run 'worker migrate force %d' and 'worker migrate up' to run it again (the SQL Server and PostgreSQL files are guarded): %w",
			driver, dirty.Version, Table, driver, dirty.Version, dirty.Version, previous(d, uint(dirty.Version)), err)
	}
	return fmt.Errorf("migrations: %s: up: %w", driver, err)
}

// Force records version as the applied version and clears the dirty flag, without running
// any migration: the recovery after a migration failed partway (golang-migrate marks a
// version dirty before it runs the file and refuses to go on while it is). Check the schema
// first: when version N is dirty, either finish N's file by hand and force N, or, since
// the SQL Server and PostgreSQL files are guarded and may run again, force the version
// before N and run Up, which runs N again. (SQLite applies a file and its version in one
// transaction, so a failure there never leaves a version dirty.)
// version is 0 (nothing applied) or one of the dialect's embedded versions. It takes the
// migration lock, so it waits for a running Up.
func Force(ctx context.Context, db *sql.DB, driver string, version uint) (err error) {
	d, err := dialectFor(driver)
	if err != nil {
		return err
	}
	all, err := list(d)
	if err != nil {
		return err
	}
	known := version == 0
	var versions []uint
	for _, m := range all {
		versions = append(versions, m.Version)
		known = known || m.Version == version
	}
	if !known {
		return fmt.Errorf("migrations: %s: no migration has version %d: force one of %v, or 0 for none", driver, version, versions)
	}
	src, err := iofs.New(d.FS, ".")
	if err != nil {
		return fmt.Errorf("migrations: read embedded %s files: %w", driver, err)
	}
	defer src.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %s: get a connection: %w", driver, err)
	}
	drv := &connDriver{ctx: ctx, conn: conn, d: d}
	defer func() {
		if rerr := drv.release(); rerr != nil && err == nil {
			err = fmt.Errorf("migrations: %s: release the migration connection: %w", driver, rerr)
		}
	}()
	m, err := migrate.NewWithInstance("iofs", src, driver, drv)
	if err != nil {
		return fmt.Errorf("migrations: %s: %w", driver, err)
	}
	m.LockTimeout = time.Duration(math.MaxInt64)
	v := int(version)
	if version == 0 {
		v = database.NilVersion
	}
	if err := m.Force(v); err != nil {
		return fmt.Errorf("migrations: %s: force version %d: %w", driver, version, err)
	}
	return nil
}

// Status reports the applied and the latest version and the pending migrations, without
// taking the migration lock.
func Status(ctx context.Context, db *sql.DB, driver string) (StatusReport, error) {
	d, err := dialectFor(driver)
	if err != nil {
		return StatusReport{}, err
	}
	all, err := list(d)
	if err != nil {
		return StatusReport{}, err
	}
	var rep StatusReport
	if len(all) > 0 {
		rep.Latest = all[len(all)-1].Version
	}
	var exists bool
	if err := db.QueryRowContext(ctx, d.TableExists).Scan(&exists); err != nil {
		return StatusReport{}, fmt.Errorf("migrations: %s: look for %s: %w", driver, Table, err)
	}
	if exists {
		var v int64
		switch err := db.QueryRowContext(ctx, d.SelectVersion).Scan(&v, &rep.Dirty); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return StatusReport{}, fmt.Errorf("migrations: %s: read %s: %w", driver, Table, err)
		case v > 0:
			rep.Current = uint(v)
		}
	}
	for _, m := range all {
		if m.Version > rep.Current {
			rep.Pending = append(rep.Pending, m.Raw)
		}
	}
	return rep, nil
}

// previous returns the embedded version before version, or 0 when there is none.
func previous(d *dialect.Dialect, version uint) uint {
	all, _ := list(d)
	var prev uint
	for _, m := range all {
		if m.Version < version {
			prev = m.Version
		}
	}
	return prev
}

// list returns the dialect's up migrations in version order.
func list(d *dialect.Dialect) ([]*source.Migration, error) {
	driver := d.Name
	entries, err := fs.ReadDir(d.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: read embedded %s files: %w", driver, err)
	}
	var out []*source.Migration
	for _, e := range entries {
		m, err := source.Parse(e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %s/%s: %w", driver, e.Name(), err)
		}
		if m.Direction == source.Up {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func dialectFor(driver string) (*dialect.Dialect, error) {
	if d, ok := dialects[driver]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("migrations: unknown driver %q: use one of %v", driver, repo.Drivers)
}
