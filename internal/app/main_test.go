package app

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest/pgtest"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
)

// TestMain lets a test re-execute this binary as the worker command (WAITROOM_APP_MAIN=1), so
// that concurrency tests run real separate processes.
func TestMain(m *testing.M) {
	if os.Getenv("WAITROOM_APP_MAIN") == "1" {
		os.Exit(Main(strings.Fields(os.Getenv("WAITROOM_APP_ARGS")), os.Stdout, os.Stderr, os.Environ()))
	}
	os.Exit(m.Run())
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, env map[string]string, args ...string) cmdResult {
	t.Helper()
	var out, errb bytes.Buffer
	environ := make([]string, 0, len(env))
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	code := run(context.Background(), args, &out, &errb, environ)
	return cmdResult{code, out.String(), errb.String()}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestConfigCommandExitCodesAndRedaction(t *testing.T) {
	const secret = "Sup3r-S3cret-Pw"
	cases := []struct {
		name string
		file string
		env  map[string]string
		code int
		want []string
	}{
		{name: "good", file: "store:\n  dsn: file:x.db\n", env: map[string]string{"DB_PASSWORD": secret}, code: 0,
			want: []string{"driver: sqlite", "password: <redacted>"}},
		{name: "bad key", file: "store:\n  passwrd: " + secret + "\n", code: 2, want: []string{"store.passwrd", "is not a known key"}},
		{name: "bad value", file: "camunda:\n  asyncResponseTimeout: forever\n", code: 2, want: []string{"camunda.asyncResponseTimeout", `"forever" is not a duration`}},
		{name: "missing password", env: map[string]string{"DB_HOST": "sql.example", "DB_NAME": "d", "DB_USER": "u"}, code: 2,
			want: []string{"store.password", "DB_PASSWORD", "is required"}},
		{name: "bad SYNC_TIMEOUT_MS", env: map[string]string{"SYNC_TIMEOUT_MS": "abc", "DB_PASSWORD": secret}, code: 2, want: []string{"SYNC_TIMEOUT_MS"}},
		{name: "misspelled environment name", env: map[string]string{"WAITROOM_STORE_PASWORD": secret}, code: 2,
			want: []string{"env WAITROOM_STORE_PASWORD", "did you mean WAITROOM_STORE_PASSWORD?"}},
		{name: "credentials in params and URLs", code: 0, env: map[string]string{
			"WAITROOM_STORE_DRIVER": "mssql", "DB_HOST": "sql.example", "DB_NAME": "d", "DB_USER": "u", "DB_PASSWORD": secret + "1",
			"WAITROOM_STORE_PARAMS_APPNAME": secret + "2", "WAITROOM_CAMUNDA_URL": "http://cam:" + secret + "3@engine/engine-rest"},
			want: []string{"appname: <redacted>", "url: http://<redacted>@engine/engine-rest"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"config"}
			if tc.file != "" {
				args = append(args, "--config", writeConfig(t, tc.file))
			} else {
				t.Chdir(t.TempDir())
			}
			r := runCmd(t, tc.env, args...)
			require.Equal(t, tc.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			all := r.stdout + r.stderr
			for _, w := range tc.want {
				require.Contains(t, all, w)
			}
			require.NotContains(t, all, secret, "a secret leaked")
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	r := runCmd(t, nil, "--no-such-flag")
	require.Equal(t, ExitConfig, r.code, r.stderr)
	r = runCmd(t, nil, "migrate")
	require.Equal(t, ExitConfig, r.code, r.stderr)
	require.Contains(t, r.stderr, "up, status or force")
	r = runCmd(t, nil, "migrate", "force")
	require.Equal(t, ExitConfig, r.code, r.stderr)
	require.Contains(t, r.stderr, "needs one VERSION")
	r = runCmd(t, nil, "migrate", "force", "three")
	require.Equal(t, ExitConfig, r.code, r.stderr)
	require.Contains(t, r.stderr, `VERSION "three" must be a migration number`)
	r = runCmd(t, nil, "version")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "camunda-waitroom")
}

func TestHelpIsComplete(t *testing.T) {
	r := runCmd(t, nil, "--help")
	require.Equal(t, 0, r.code)
	for _, sub := range []string{"run", "migrate", "config", "version", "--config", "Exit codes"} {
		require.Contains(t, r.stdout, sub)
	}
	r = runCmd(t, nil, "migrate", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "up")
	require.Contains(t, r.stdout, "status")
	require.Contains(t, r.stdout, "force")
}

// workerProcess starts this test binary as `worker args...` in a separate OS process.
func workerProcess(t *testing.T, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "WAITROOM_APP_MAIN=1", "WAITROOM_APP_ARGS="+strings.Join(args, " "))...)
	return cmd
}

func testMigrateUp(t *testing.T, driver, dsn string) {
	env := []string{"WAITROOM_STORE_DRIVER=" + driver, "WAITROOM_STORE_DSN=" + dsn}
	// Twice in a row.
	for i := 0; i < 2; i++ {
		out, err := workerProcess(t, env, "migrate", "up").CombinedOutput()
		require.NoError(t, err, "run %d: %s", i, out)
		require.Contains(t, string(out), "schema at version")
	}
	// Twice at once, from two OS processes.
	a, b := workerProcess(t, env, "migrate", "up"), workerProcess(t, env, "migrate", "up")
	var oa, ob bytes.Buffer
	a.Stdout, a.Stderr, b.Stdout, b.Stderr = &oa, &oa, &ob, &ob
	require.NoError(t, a.Start())
	require.NoError(t, b.Start())
	require.NoError(t, a.Wait(), oa.String())
	require.NoError(t, b.Wait(), ob.String())

	out, err := workerProcess(t, env, "migrate", "status").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "pending: none")
	require.Contains(t, string(out), "dirty:   false")
}

// nodeServiceDDL is the Node.js service's table as its script created it (no owner column), in each
// test dialect.
var nodeServiceDDL = map[string]string{
	"sqlite": `CREATE TABLE process_store (correlation_id VARCHAR(64) NOT NULL PRIMARY KEY, status VARCHAR(16) NOT NULL,
		payload_json TEXT NULL, error_json TEXT NULL, started_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
		CREATE INDEX IX_ProcessStore_Status ON process_store(status);
		CREATE INDEX IX_ProcessStore_UpdatedAt ON process_store(updated_at);`,
	"postgres": `CREATE TABLE process_store (correlation_id VARCHAR(64) NOT NULL PRIMARY KEY, status VARCHAR(16) NOT NULL,
		payload_json TEXT NULL, error_json TEXT NULL, started_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now());
		CREATE INDEX IX_ProcessStore_Status ON process_store(status);
		CREATE INDEX IX_ProcessStore_UpdatedAt ON process_store(updated_at);`,
}

func testAdoptsNodeServiceTable(t *testing.T, driver, dsn string) {
	ctx := context.Background()
	db, err := stores.OpenDB(ctx, driver, dsn)
	require.NoError(t, err)
	defer db.Close()
	for _, stmt := range strings.Split(nodeServiceDDL[driver], ";") {
		if strings.TrimSpace(stmt) != "" {
			_, err := db.ExecContext(ctx, stmt)
			require.NoError(t, err)
		}
	}
	_, err = db.ExecContext(ctx, `INSERT INTO process_store (correlation_id, status) VALUES ('node-row', 'PENDING')`)
	require.NoError(t, err)

	out, err := workerProcess(t, []string{"WAITROOM_STORE_DRIVER=" + driver, "WAITROOM_STORE_DSN=" + dsn}, "migrate", "up").CombinedOutput()
	require.NoError(t, err, string(out))
	st, err := migrations.Status(ctx, db, driver)
	require.NoError(t, err)
	require.Empty(t, st.Pending)
	var owner sql.NullString
	require.NoError(t, db.QueryRowContext(ctx, `SELECT owner FROM process_store WHERE correlation_id = 'node-row'`).Scan(&owner))
	require.False(t, owner.Valid, "the Node.js service's row is kept, with the new owner column NULL")
}

func TestMigrateUpSQLite(t *testing.T) {
	dir := t.TempDir()
	testMigrateUp(t, "sqlite", "file:"+filepath.Join(dir, "a.db"))
	testAdoptsNodeServiceTable(t, "sqlite", "file:"+filepath.Join(dir, "node.db"))
}

func TestMigrateUpPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	testMigrateUp(t, "postgres", pgtest.Schema(t, dsn, "appmig"))
	testAdoptsNodeServiceTable(t, "postgres", pgtest.Schema(t, dsn, "appnode"))
}

func TestMigrateReportsUnreachableDatabaseWithoutSecrets(t *testing.T) {
	r := runCmd(t, map[string]string{
		"WAITROOM_STORE_DRIVER": "postgres",
		"WAITROOM_STORE_DSN":    "postgres://u:TopSecretPw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
	}, "migrate", "up")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "127.0.0.1:1")
	require.NotContains(t, r.stderr+r.stdout, "TopSecretPw")
}

// TestRunWaitsForTheDatabaseAndSaysWhy: with the database unreachable, start-up retries with
// backoff, logs why it waits (without the password), and gives up after store.connectTimeout.
func TestRunWaitsForTheDatabaseAndSaysWhy(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runCmd(t, map[string]string{
		"WAITROOM_STORE_DRIVER":         "postgres",
		"WAITROOM_STORE_DSN":            "postgres://u:TopSecretPw@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
		"WAITROOM_STORE_CONNECTTIMEOUT": "2s",
		"WAITROOM_HTTP_ADDR":            "127.0.0.1:0",
	}, "run")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.GreaterOrEqual(t, strings.Count(r.stderr, `"msg":"waiting for the database"`), 2, "each failed attempt is logged with its reason:\n%s", r.stderr)
	require.Contains(t, r.stderr, "connect")
	require.Contains(t, r.stderr, "not usable after 2s")
	require.NotContains(t, r.stderr, "TopSecretPw")
}
