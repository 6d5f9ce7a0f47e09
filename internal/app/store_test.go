package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/microsoft/go-mssqldb/azuread"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/mssql"
)

func sqliteConfig(t *testing.T) *config.Config {
	t.Helper()
	t.Chdir(t.TempDir())
	cfg, _, err := config.Load("", func(k string) string {
		return map[string]string{"WAITROOM_STORE_DSN": "file:" + filepath.Join(t.TempDir(), "w.db")}[k]
	})
	require.NoError(t, err)
	return cfg
}

// TestMigrationsGetTheirOwnDeadline: openStore runs the migrations under
// store.migrateTimeout, not under the 10 s of an open attempt, and a migration that runs
// out of it fails the start naming the key.
func TestMigrationsGetTheirOwnDeadline(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.Store.MigrateTimeout = 45 * time.Minute
	var deadline time.Time
	var alive bool
	migrateUp = func(ctx context.Context, db *sql.DB, driver string) error {
		deadline, _ = ctx.Deadline()
		alive = ctx.Err() == nil
		return migrations.Up(ctx, db, driver)
	}
	t.Cleanup(func() { migrateUp = migrations.Up })
	st, err := openStore(context.Background(), cfg, zap.NewNop())
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.True(t, alive, "the migration context was already done")
	require.WithinDuration(t, time.Now().Add(45*time.Minute), deadline, time.Minute, "migrations run under store.migrateTimeout")

	cfg = sqliteConfig(t)
	cfg.Store.MigrateTimeout = time.Nanosecond
	migrateUp = func(ctx context.Context, db *sql.DB, driver string) error {
		<-ctx.Done() // the deadline is what ends this migration
		return migrations.Up(ctx, db, driver)
	}
	_, err = openStore(context.Background(), cfg, zap.NewNop())
	require.ErrorContains(t, err, "store.migrateOnStart")
	require.ErrorContains(t, err, "store.migrateTimeout 1ns")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestUnsupportedDatabaseIsNotRetried: a SQL Server below compatibility level 130 fails the
// start at once instead of being retried for store.connectTimeout.
func TestUnsupportedDatabaseIsNotRetried(t *testing.T) {
	err := waitErr(zap.NewNop(), 1, "db", "check", fmt.Errorf("mssql: %w: level 120", repo.ErrUnsupportedDatabase))
	var perm *backoff.PermanentError
	require.True(t, errors.As(err, &perm), "%v is retried", err)
	err = waitErr(zap.NewNop(), 1, "db", "open", errors.New("connection refused"))
	require.False(t, errors.As(err, &perm), "a refused connection must be retried")
}

// TestEntraIDDriverIsRegistered: the daemon links go-mssqldb's azuread driver, and a SQL
// Server DSN with fedauth opens with it (nothing connects until first use).
func TestEntraIDDriverIsRegistered(t *testing.T) {
	require.Contains(t, sql.Drivers(), mssql.EntraDriverName)
	db, err := mssql.OpenDB("sqlserver://example.database.windows.net?database=camunda_db&fedauth=ActiveDirectoryDefault")
	require.NoError(t, err)
	defer db.Close()
	_, ok := db.Driver().(*azuread.Driver)
	require.True(t, ok, "driver is %T, want *azuread.Driver", db.Driver())
	db2, err := mssql.OpenDB("sqlserver://u:p@host?database=d")
	require.NoError(t, err)
	defer db2.Close()
	_, ok = db2.Driver().(*azuread.Driver)
	require.False(t, ok, "a SQL login must not go through the azuread driver")
}

// TestMigrateForceRecovers drives the recovery the README documents through the command
// line: a dirty version stops 'migrate up', which names the fix; 'migrate force' repairs it.
// (migrations' own tests cover forcing the previous version and running the file again.)
func TestMigrateForceRecovers(t *testing.T) {
	t.Chdir(t.TempDir())
	env := map[string]string{"WAITROOM_STORE_DRIVER": "sqlite", "WAITROOM_STORE_DSN": "file:" + filepath.Join(t.TempDir(), "f.db")}
	r := runCmd(t, env, "migrate", "up")
	require.Equal(t, 0, r.code, r.stderr)
	cfg, _, err := config.Load("", func(k string) string { return env[k] })
	require.NoError(t, err)
	db, err := openDB(context.Background(), cfg)
	require.NoError(t, err)
	defer db.Close()
	st, err := migrations.Status(context.Background(), db, "sqlite")
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE ` + migrations.Table + ` SET dirty = 1`)
	require.NoError(t, err)

	r = runCmd(t, env, "migrate", "up")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("version %d is marked dirty", st.Latest))
	require.Contains(t, r.stderr, "'worker migrate force")

	r = runCmd(t, env, "migrate", "force", "999")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "no migration has version 999")

	// The file was applied whole (SQLite runs each in a transaction): record it as done.
	r = runCmd(t, env, "migrate", "force", fmt.Sprint(st.Latest))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("schema recorded at version %d", st.Latest))
	r = runCmd(t, env, "migrate", "up")
	require.Equal(t, 0, r.code, r.stderr)
	r = runCmd(t, env, "migrate", "status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "pending: none")
	require.Contains(t, r.stdout, "dirty:   false")
}
