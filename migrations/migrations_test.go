package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// helperEnv, when set, makes the test binary a child process that runs Up on the SQLite file
// it names and exits: TestSQLiteConcurrentProcesses starts several at once.
const helperEnv = "MIGRATIONS_TEST_UP_SQLITE"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		db, err := sql.Open("sqlite", sqliteDSN(path))
		if err == nil {
			err = migrations.Up(context.Background(), db, repo.DriverSQLite)
			db.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dsn := os.Getenv(helperPGEnv); dsn != "" {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			err = migrations.Up(context.Background(), db, repo.DriverPostgres)
			db.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// After a migration fails, golang-migrate's read-ahead goroutine for the next file
	// ((*Migration).Buffer) blocks for good writing into a pipe nobody reads any more: a
	// leak inside the library, one per failed Up, which TestSQLiteFailedUpChangesNothing
	// provokes whenever a file follows the failing one.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/golang-migrate/migrate/v4.(*Migration).Buffer"))
}

func sqliteDSN(path string) string {
	// The settings repo/sqlite.DSN adds (not imported here, to keep this package's tests
	// independent of the store).
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newSQLite(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	return openSQLite(t, path), path
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustUp(t *testing.T, db *sql.DB, driver string) {
	t.Helper()
	if err := migrations.Up(ctx(t), db, driver); err != nil {
		t.Fatalf("Up: %v", err)
	}
}

func latest(t *testing.T, driver string) uint {
	t.Helper()
	names := embedded(t, driver)
	var v uint
	fmt.Sscanf(names[len(names)-1], "%d", &v)
	return v
}

// embedded lists the dialect's migration files in order. Tests derive the expected versions
// from it, so adding a migration does not mean editing them.
func embedded(t *testing.T, driver string) []string {
	t.Helper()
	fsys, err := migrations.FS(driver)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.up.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations for %s: %v", driver, err)
	}
	return names
}

// version parses the version of a migration file name.
func version(t *testing.T, name string) uint {
	t.Helper()
	var v uint
	if _, err := fmt.Sscanf(name, "%d", &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// testForceRecovers marks the latest version dirty, as a migration cut off by a timeout
// leaves it, and recovers with Force and Up as the README says.
func testForceRecovers(t *testing.T, db *sql.DB, driver string) {
	t.Helper()
	mustUp(t, db, driver)
	names := embedded(t, driver)
	last, prev := version(t, names[len(names)-1]), version(t, names[len(names)-2])
	if _, err := db.ExecContext(ctx(t), `UPDATE `+migrations.Table+` SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	err := migrations.Up(ctx(t), db, driver)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d is marked dirty", last)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("'worker migrate force %d'", prev)) {
		t.Fatalf("Up on a dirty version = %v; want the recovery named", err)
	}
	if err := migrations.Force(ctx(t), db, driver, 99); err == nil || !strings.Contains(err.Error(), "no migration has version 99") {
		t.Fatalf("Force(99) = %v", err)
	}
	if err := migrations.Force(ctx(t), db, driver, prev); err != nil {
		t.Fatalf("Force(%d): %v", prev, err)
	}
	rep, err := migrations.Status(ctx(t), db, driver)
	if err != nil || rep.Current != prev || rep.Dirty || len(rep.Pending) != 1 {
		t.Fatalf("Status after Force(%d) = %+v, %v", prev, rep, err)
	}
	mustUp(t, db, driver) // runs the last, guarded file again
	checkMigrated(t, db, driver)
	if err := migrations.Force(ctx(t), db, driver, 0); err != nil {
		t.Fatalf("Force(0): %v", err)
	}
	if rep, err := migrations.Status(ctx(t), db, driver); err != nil || rep.Current != 0 || rep.Dirty {
		t.Fatalf("Status after Force(0) = %+v, %v", rep, err)
	}
}

// checkMigrated checks Status after a complete Up and that the owner column exists.
func checkMigrated(t *testing.T, db *sql.DB, driver string) {
	t.Helper()
	rep, err := migrations.Status(ctx(t), db, driver)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	want := latest(t, driver)
	if rep.Current != want || rep.Latest != want || rep.Dirty || len(rep.Pending) != 0 {
		t.Fatalf("Status = %+v, want current = latest = %d, clean, nothing pending", rep, want)
	}
	// The store's columns are all there, owner and the start protocol's included, and the
	// heartbeat table.
	if _, err := db.ExecContext(ctx(t), `SELECT correlation_id, status, payload_json, error_json, owner, started_at, updated_at,
  process_key, process_instance_id, start_attempt, start_lease_until FROM process_store WHERE 1 = 0`); err != nil {
		t.Fatalf("process_store columns: %v", err)
	}
	if _, err := db.ExecContext(ctx(t), `SELECT worker_id, started_at, beat_at FROM process_store_heartbeat WHERE 1 = 0`); err != nil {
		t.Fatalf("process_store_heartbeat columns: %v", err)
	}
}

func TestUnknownDriver(t *testing.T) {
	t.Parallel()
	db, _ := newSQLite(t)
	if err := migrations.Up(ctx(t), db, "oracle"); err == nil || !strings.Contains(err.Error(), `"oracle"`) {
		t.Fatalf("Up(oracle) = %v", err)
	}
	if _, err := migrations.Status(ctx(t), db, "oracle"); err == nil {
		t.Fatal("Status(oracle) succeeded")
	}
	if _, err := migrations.FS("oracle"); err == nil {
		t.Fatal("FS(oracle) succeeded")
	}
}

// TestDialectsHaveTheSameVersions: every dialect has the same numbered steps, so a version
// means the same schema everywhere.
func TestDialectsHaveTheSameVersions(t *testing.T) {
	t.Parallel()
	var want []string
	for i, d := range repo.Drivers {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := fs.Glob(fsys, "*")
		if i == 0 {
			want = names
			continue
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s migrations %v differ from %s's %v", d, names, repo.Drivers[0], want)
		}
	}
	for _, n := range want {
		if !regexp.MustCompile(`^\d{3}_[a-z_]+\.up\.sql$`).MatchString(n) {
			t.Errorf("migration %q is not named NNN_name.up.sql", n)
		}
	}
}

func TestSQLiteStatusAndUpTwice(t *testing.T) {
	t.Parallel()
	db, _ := newSQLite(t)
	rep, err := migrations.Status(ctx(t), db, repo.DriverSQLite)
	if err != nil {
		t.Fatal(err)
	}
	wantPending := embedded(t, repo.DriverSQLite)
	for _, want := range []string{"001_create_process_store.up.sql", "002_add_owner.up.sql", "003_start_protocol.up.sql", "004_status_indexes.up.sql"} {
		if !slices.Contains(wantPending, want) {
			t.Fatalf("embedded sqlite migrations %v lack %s", wantPending, want)
		}
	}
	if rep.Current != 0 || rep.Latest != latest(t, repo.DriverSQLite) || rep.Dirty || !slices.Equal(rep.Pending, wantPending) {
		t.Fatalf("Status of an empty database = %+v", rep)
	}
	mustUp(t, db, repo.DriverSQLite)
	checkMigrated(t, db, repo.DriverSQLite)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'ix_process_store_status_updated_at'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("004's ix_process_store_status_updated_at: %d, %v", n, err)
	}
	mustUp(t, db, repo.DriverSQLite) // a no-op
	checkMigrated(t, db, repo.DriverSQLite)
	// Up leaves the pool's connection settings as it found them.
	var timeout int
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != 10000 {
		t.Fatalf("busy_timeout after Up = %d, %v; want 10000", timeout, err)
	}
}

// TestSQLiteConcurrentHandles runs Up from several pools on one file at once.
func TestSQLiteConcurrentHandles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	const n = 6
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		dbs[i] = openSQLite(t, path)
	}
	runConcurrently(t, dbs, repo.DriverSQLite)
	checkMigrated(t, dbs[0], repo.DriverSQLite)
}

func runConcurrently(t *testing.T, dbs []*sql.DB, driver string) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = migrations.Up(ctx(t), db, driver)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Up %d: %v", i, err)
		}
	}
}

// TestSQLiteConcurrentProcesses runs Up from several OS processes on one file at once, plus
// this one.
func TestSQLiteConcurrentProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+path)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	db := openSQLite(t, path)
	errHere := migrations.Up(ctx(t), db, repo.DriverSQLite)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outs[i].String())
		}
	}
	if errHere != nil {
		t.Errorf("Up in the test process: %v", errHere)
	}
	checkMigrated(t, db, repo.DriverSQLite)
}

// TestSQLiteAdoptsPreOwnerTable: a database whose table was made by hand, before owner
// existed, is adopted: its rows stay and owner is added.
func TestSQLiteAdoptsPreOwnerTable(t *testing.T) {
	t.Parallel()
	db, _ := newSQLite(t)
	if _, err := db.Exec(`CREATE TABLE process_store (
  correlation_id  TEXT NOT NULL PRIMARY KEY,
  status          TEXT NOT NULL,
  payload_json    TEXT NULL,
  error_json      TEXT NULL,
  started_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO process_store (correlation_id, status, payload_json) VALUES ('old-1', 'DONE', '{"kept":true}');`); err != nil {
		t.Fatal(err)
	}
	mustUp(t, db, repo.DriverSQLite)
	checkMigrated(t, db, repo.DriverSQLite)
	var status, payload string
	var owner sql.NullString
	if err := db.QueryRow(`SELECT status, payload_json, owner FROM process_store WHERE correlation_id = 'old-1'`).Scan(&status, &payload, &owner); err != nil {
		t.Fatal(err)
	}
	if status != "DONE" || payload != `{"kept":true}` || owner.Valid {
		t.Fatalf("adopted row = %s %s %v", status, payload, owner)
	}
}

// TestSQLiteFailedUpChangesNothing: a migration that fails rolls back with its version, so
// the database is neither half-migrated nor marked dirty. (A table that already has owner but
// no recorded version makes 002's ADD COLUMN fail.)
func TestSQLiteFailedUpChangesNothing(t *testing.T) {
	t.Parallel()
	db, _ := newSQLite(t)
	if _, err := db.Exec(`CREATE TABLE process_store (correlation_id TEXT PRIMARY KEY, status TEXT, payload_json TEXT,
  error_json TEXT, started_at TEXT, updated_at TEXT, owner TEXT)`); err != nil {
		t.Fatal(err)
	}
	err := migrations.Up(ctx(t), db, repo.DriverSQLite)
	if err == nil || !strings.Contains(err.Error(), "duplicate column") {
		t.Fatalf("Up = %v, want a duplicate column error", err)
	}
	rep, err := migrations.Status(ctx(t), db, repo.DriverSQLite)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Current != 0 || rep.Dirty || len(rep.Pending) != len(embedded(t, repo.DriverSQLite)) {
		t.Fatalf("Status after a failed Up = %+v, want nothing applied and clean", rep)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'ix_process_store_status'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("001's index survived the rollback: %d, %v", n, err)
	}
}

// TestSQLiteForceRecoversADirtyVersion: see testForceRecovers. (SQLite runs a migration
// and its version in one transaction, so it is never left dirty by a failure; a dirty flag
// there comes from elsewhere, and the same recovery applies.)
func TestSQLiteForceRecoversADirtyVersion(t *testing.T) {
	t.Parallel()
	db, _ := newSQLite(t)
	testForceRecovers(t, db, repo.DriverSQLite)
}

// TestMSSQLFiles checks the SQL Server files as text; no SQL Server runs in the tests, so
// nothing here executes them.
func TestMSSQLFiles(t *testing.T) {
	t.Parallel()
	fsys, err := migrations.FS(repo.DriverMSSQL)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	one := read("001_create_process_store.up.sql")
	// The Node.js service's schema (its migrations/001_create_process_store.sql), verbatim
	// apart from indentation.
	nodeSchema := []string{
		"CREATE TABLE dbo.process_store (",
		"correlation_id  VARCHAR(64) NOT NULL PRIMARY KEY,",
		"status          VARCHAR(16) NOT NULL,         -- 'PENDING'|'DONE'|'ERROR'",
		"payload_json    NVARCHAR(MAX) NULL,",
		"error_json      NVARCHAR(MAX) NULL,",
		"started_at      DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME(),",
		"updated_at      DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME()",
		");",
		"CREATE INDEX IX_ProcessStore_Status ON dbo.process_store(status);",
		"CREATE INDEX IX_ProcessStore_UpdatedAt ON dbo.process_store(updated_at);",
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(one, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, l := range nodeSchema {
		if !lines[l] {
			t.Errorf("001 lacks the Node.js service's line %q", l)
		}
	}
	for _, guard := range []string{
		"IF OBJECT_ID(N'dbo.process_store', N'U') IS NULL",
		"WHERE name = N'IX_ProcessStore_Status' AND object_id = OBJECT_ID(N'dbo.process_store')",
		"WHERE name = N'IX_ProcessStore_UpdatedAt' AND object_id = OBJECT_ID(N'dbo.process_store')",
	} {
		if !strings.Contains(one, guard) {
			t.Errorf("001 lacks the guard %q", guard)
		}
	}
	if strings.Count(one, "IF NOT EXISTS (SELECT 1 FROM sys.indexes") != 2 {
		t.Error("001: each CREATE INDEX must be guarded by IF NOT EXISTS (SELECT 1 FROM sys.indexes ...)")
	}

	two := read("002_add_owner.up.sql")
	for _, want := range []string{
		"IF COL_LENGTH(N'dbo.process_store', N'owner') IS NULL",
		"ALTER TABLE dbo.process_store ADD owner VARCHAR(64) NULL;",
		"IF NOT EXISTS (SELECT 1 FROM sys.indexes",
		"IX_ProcessStore_Status_StartedAt ON dbo.process_store(status, started_at) INCLUDE (owner)",
	} {
		if !strings.Contains(two, want) {
			t.Errorf("002 lacks %q", want)
		}
	}
	three := read("003_start_protocol.up.sql")
	for _, want := range []string{
		"IF COL_LENGTH(N'dbo.process_store', N'process_key') IS NULL",
		"ALTER TABLE dbo.process_store ADD process_key VARCHAR(255) NULL;",
		"IF COL_LENGTH(N'dbo.process_store', N'process_instance_id') IS NULL",
		"ALTER TABLE dbo.process_store ADD process_instance_id VARCHAR(64) NULL;",
		"IF COL_LENGTH(N'dbo.process_store', N'start_attempt') IS NULL",
		"ALTER TABLE dbo.process_store ADD start_attempt BIGINT NULL;",
		"IF COL_LENGTH(N'dbo.process_store', N'start_lease_until') IS NULL",
		"ALTER TABLE dbo.process_store ADD start_lease_until DATETIME2(3) NULL;",
		"IF OBJECT_ID(N'dbo.process_store_heartbeat', N'U') IS NULL",
		"worker_id   VARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,",
		"beat_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME()",
	} {
		if !strings.Contains(three, want) {
			t.Errorf("003 lacks %q", want)
		}
	}
	// Every added column is nullable: adding it changes only metadata, and rows the Node.js
	// service writes stay valid.
	for _, l := range strings.Split(three, "\n") {
		if strings.Contains(l, "ALTER TABLE") && !strings.HasSuffix(strings.TrimSpace(l), "NULL;") {
			t.Errorf("003 adds a column that is not nullable: %s", strings.TrimSpace(l))
		}
	}
	four := read("004_status_indexes.up.sql")
	norm := strings.Join(strings.Fields(four), " ")
	for _, want := range []string{
		// the retention index, guarded, online where the edition allows
		"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_ProcessStore_Status_UpdatedAt' AND object_id = OBJECT_ID(N'dbo.process_store'))",
		"CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS INT) IN (3, 5, 8) THEN N'ON' ELSE N'OFF' END",
		"EXEC (N'CREATE INDEX IX_ProcessStore_Status_UpdatedAt ON dbo.process_store(status, updated_at) WITH (ONLINE = ' + @online + N')')",
		// the duplicate dropped only in the Node.js service's exact shape, and only beside the wider index
		"WHERE i.name = N'IX_ProcessStore_Status' AND i.object_id = OBJECT_ID(N'dbo.process_store') AND i.type = 2 AND i.is_unique = 0 AND i.has_filter = 0",
		"WHERE ic.object_id = i.object_id AND ic.index_id = i.index_id) = 1",
		"AND ic.key_ordinal = 1 AND c.name = N'status'))",
		"WHERE w.name = N'IX_ProcessStore_Status_StartedAt' AND w.object_id = OBJECT_ID(N'dbo.process_store') AND c.name = N'status')",
		"DROP INDEX IX_ProcessStore_Status ON dbo.process_store;",
	} {
		if !strings.Contains(norm, want) {
			t.Errorf("004 lacks %q", want)
		}
	}
	if strings.Count(norm, "DROP ") != 1 || strings.Count(norm, "CREATE INDEX") != 1 {
		t.Error("004 drops or creates more than the two indexes it is about")
	}
	// golang-migrate-style runners send a file as one batch: GO would be a syntax error.
	for name, text := range map[string]string{"001": one, "002": two, "003": three, "004": four} {
		for _, l := range strings.Split(text, "\n") {
			if strings.EqualFold(strings.TrimSpace(l), "GO") {
				t.Errorf("%s contains a GO batch separator", name)
			}
		}
	}
}
