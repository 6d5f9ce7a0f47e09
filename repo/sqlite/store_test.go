package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// migratedFile returns a new database file with the migrations applied.
func migratedFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "waitroom.db")
	db, err := sqlite.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Up(context.Background(), db, repo.DriverSQLite); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConformance(t *testing.T) {
	path := migratedFile(t)
	repotest.Run(t, func(t *testing.T, owner string) repo.Store {
		t.Helper()
		// A pool per store, as separate processes would have.
		st, err := sqlite.Open(context.Background(), repo.Options{Driver: repo.DriverSQLite, DSN: path, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"/tmp/w.db", "/tmp/w.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"file:/tmp/w.db", "file:/tmp/w.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"file:/tmp/w.db?mode=rwc", "file:/tmp/w.db?mode=rwc&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"},
		{"file:/tmp/w.db?_pragma=busy_timeout(50)&_txlock=exclusive", "file:/tmp/w.db?_pragma=busy_timeout(50)&_txlock=exclusive&_pragma=journal_mode(WAL)"},
		{"w.db?_journal_mode=DELETE&_busy_timeout=1&_txlock=deferred", "w.db?_journal_mode=DELETE&_busy_timeout=1&_txlock=deferred"},
		{"file::memory:", "file::memory:?_pragma=busy_timeout(10000)&_txlock=immediate"},
	}
	for _, tt := range tests {
		got, err := sqlite.DSN(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("DSN(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := sqlite.DSN(""); err == nil {
		t.Error("DSN(\"\") succeeded")
	}
}

// TestPragmas checks that a store's connections run in WAL mode with a busy timeout.
func TestPragmas(t *testing.T) {
	t.Parallel()
	path := migratedFile(t)
	st, err := sqlite.Open(context.Background(), repo.Options{DSN: "file:" + path, Owner: "o"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mode string
	var timeout int
	if err := st.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(mode, "wal") || timeout != 10000 {
		t.Fatalf("journal_mode %q, busy_timeout %d; want wal, 10000", mode, timeout)
	}
}

func TestOpenNeedsOwner(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.db")
	_, err := sqlite.Open(context.Background(), repo.Options{DSN: path})
	if err == nil || !strings.Contains(err.Error(), "Options.Owner is empty") {
		t.Fatalf("Open without owner: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		// Opening a pool does not create the file until a connection is made; a failed
		// Open must not leave one behind either way.
		t.Logf("note: %s exists", path)
	}
}
