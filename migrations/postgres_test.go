package migrations_test

import (
	"database/sql"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest/pgtest"
)

// helperPGEnv, when set, makes the test binary a child process that runs Up on the
// PostgreSQL DSN it holds (see TestMain).
const helperPGEnv = "MIGRATIONS_TEST_UP_POSTGRES"

// pgSchema returns a pool on a fresh, empty schema (dropped when the test ends) and its DSN.
func pgSchema(t *testing.T) (*sql.DB, string) {
	t.Helper()
	dsn := pgtest.Schema(t, pgtest.DSN(t), "migrations_test")
	return openPG(t, dsn), dsn
}

func openPG(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresStatusAndUpTwice(t *testing.T) {
	t.Parallel()
	db, _ := pgSchema(t)
	rep, err := migrations.Status(ctx(t), db, repo.DriverPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Current != 0 || rep.Latest != latest(t, repo.DriverPostgres) || rep.Dirty || !slices.Equal(rep.Pending, embedded(t, repo.DriverPostgres)) {
		t.Fatalf("Status of an empty schema = %+v", rep)
	}
	mustUp(t, db, repo.DriverPostgres)
	checkMigrated(t, db, repo.DriverPostgres)
	// 004's retention index is there.
	var n int
	if err := db.QueryRowContext(ctx(t), `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'ix_process_store_status_updated_at'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("ix_process_store_status_updated_at: %d, %v", n, err)
	}
	mustUp(t, db, repo.DriverPostgres)
	checkMigrated(t, db, repo.DriverPostgres)
	// Up gives its connection back without the session-level advisory lock: with a single
	// connection in the pool, the connection Up used is the one asked here.
	db.SetMaxOpenConns(1)
	mustUp(t, db, repo.DriverPostgres)
	var held int
	if err := db.QueryRowContext(ctx(t), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`).Scan(&held); err != nil || held != 0 {
		t.Fatalf("the pooled connection holds %d advisory locks after Up (%v)", held, err)
	}
}

// TestPostgresConcurrent runs Up from several pools (separate sessions) and several OS
// processes on one empty schema at once: all succeed, and the schema is migrated once.
func TestPostgresConcurrent(t *testing.T) {
	t.Parallel()
	_, dsn := pgSchema(t)
	const procs, pools = 3, 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperPGEnv+"="+dsn)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	dbs := make([]*sql.DB, pools)
	for i := range dbs {
		dbs[i] = openPG(t, dsn)
	}
	runConcurrently(t, dbs, repo.DriverPostgres)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outs[i].String())
		}
	}
	checkMigrated(t, dbs[0], repo.DriverPostgres)
	var tables int
	if err := dbs[0].QueryRowContext(ctx(t), `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("%d tables in the schema, %v; want process_store, process_store_heartbeat and %s", tables, err, migrations.Table)
	}
}

// TestPostgresAdoptsPreOwnerTable: a schema whose table was made by hand with the pre-owner
// columns is adopted: its rows stay and owner is added.
func TestPostgresAdoptsPreOwnerTable(t *testing.T) {
	t.Parallel()
	db, _ := pgSchema(t)
	if _, err := db.ExecContext(ctx(t), `CREATE TABLE process_store (
  correlation_id  VARCHAR(64) NOT NULL PRIMARY KEY,
  status          VARCHAR(16) NOT NULL,
  payload_json    TEXT NULL,
  error_json      TEXT NULL,
  started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_process_store_status ON process_store (status);
INSERT INTO process_store (correlation_id, status, payload_json) VALUES ('old-1', 'DONE', '{"kept":true}');`); err != nil {
		t.Fatal(err)
	}
	mustUp(t, db, repo.DriverPostgres)
	checkMigrated(t, db, repo.DriverPostgres)
	var status, payload string
	var owner sql.NullString
	if err := db.QueryRowContext(ctx(t), `SELECT status, payload_json, owner FROM process_store WHERE correlation_id = 'old-1'`).Scan(&status, &payload, &owner); err != nil {
		t.Fatal(err)
	}
	if status != "DONE" || payload != `{"kept":true}` || owner.Valid {
		t.Fatalf("adopted row = %s %s %v", status, payload, owner)
	}
}

// TestPostgresForceRecoversADirtyVersion: a version left dirty (a migration cut off) blocks
// Up with a message naming the recovery; forcing the previous version and running Up again
// re-runs the guarded file and leaves the schema complete and clean.
func TestPostgresForceRecoversADirtyVersion(t *testing.T) {
	t.Parallel()
	db, _ := pgSchema(t)
	testForceRecovers(t, db, repo.DriverPostgres)
}
