package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEmbeddedDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./config.yaml here: built-in defaults apply
	c, src, err := Load("", env(nil))
	require.NoError(t, err)
	require.Empty(t, src.File)
	require.Equal(t, DriverSQLite, c.Store.Driver)
	require.Equal(t, "file:waitroom.db", c.StoreDSN())
	require.Equal(t, "http://localhost:8080/engine-rest", c.Camunda.URL)
	require.Equal(t, 25*time.Second, c.Waitroom.Timeout)
	require.Equal(t, 20*time.Second, c.Camunda.AsyncResponseTimeout)
	require.Equal(t, ":8088", c.HTTP.Addr)
	require.NotEmpty(t, c.Instance.ID)
	require.True(t, strings.HasPrefix(c.Camunda.WorkerID, c.Instance.ID+"."), "worker id %q = instance id + a per-start suffix", c.Camunda.WorkerID)
	require.Len(t, c.Topics, 2)
	require.Equal(t, "onboard-user/prepare-response", c.Topics[1].Name)
	require.Equal(t, "correlationId", c.Topics[1].Result.CorrelationVariable)
	require.Equal(t, "error", c.Topics[1].Result.ErrorVariable)

	c2, _, err := Load("", env(nil))
	require.NoError(t, err)
	require.NotEqual(t, c.Instance.ID, c2.Instance.ID, "generated instance ids must differ between replicas")
}

func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, _, err := Load(f, env(nil))
			require.NoError(t, err)
		})
	}
}

func TestFullGoodFile(t *testing.T) {
	c, src, err := Load("testdata/full.good.yaml", env(nil))
	require.NoError(t, err)
	require.Equal(t, "testdata/full.good.yaml", src.File)
	require.Regexp(t, `^replica-a\.[0-9a-f]{4}$`, c.Camunda.WorkerID, "instance id + a per-start suffix")
	again, _, err := Load("testdata/full.good.yaml", env(nil))
	require.NoError(t, err)
	require.NotEqual(t, c.Camunda.WorkerID, again.Camunda.WorkerID, "each start gets its own worker id")
	set, _, err := Load("testdata/full.good.yaml", env(map[string]string{"WAITROOM_CAMUNDA_WORKERID": "fixed-worker"}))
	require.NoError(t, err)
	require.Equal(t, "fixed-worker", set.Camunda.WorkerID, "a configured worker id is used as is")
	require.Equal(t, DriverPostgres, c.Store.Driver)
	require.Len(t, c.Topics, 1, "a file's topic list replaces the default list")
	tp := c.Topics[0]
	require.Equal(t, "Onboard-User/Prepare-Response", tp.Name, "topic names keep their case")
	require.Equal(t, time.Minute, tp.LockDuration)
	require.Equal(t, []string{"onboard-user", "onboard-admin"}, tp.ProcessDefinitionKeyIn)
	require.Equal(t, []VariableMatch{{Name: "Region", Value: "EU"}}, tp.ProcessVariables)
	require.NotNil(t, tp.UsePriority)
	require.True(t, *tp.UsePriority)
	require.Nil(t, tp.Sorting)
	require.Equal(t, 5*time.Minute, tp.RetryBackoff.Max)
	require.Equal(t, "corrId", tp.Result.CorrelationVariable)
	require.Equal(t, MissingRowFail, tp.Result.OnMissingRow)
	require.Equal(t, "tok-123", c.Camunda.Auth.Token)
	// Keys left out keep the embedded defaults.
	require.Equal(t, 10*time.Second, c.Camunda.RequestTimeout)
	require.Equal(t, 10*time.Second, c.Waitroom.Timeout)
}

func TestTopicDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte("topics:\n  - name: only-a-name\n"), 0o600))
	c, _, err := Load(p, env(nil))
	require.NoError(t, err)
	tp := c.Topics[0]
	require.Equal(t, "only-a-name", tp.Handler)
	require.Equal(t, DefaultLockDuration, tp.LockDuration)
	require.Equal(t, DefaultMaxTasks, tp.MaxTasks)
	require.Equal(t, DefaultMaxParallel, tp.MaxParallel)
	require.Equal(t, DefaultRetries, tp.Retries)
	require.Equal(t, DefaultOnMissingRow, tp.Result.OnMissingRow)
}

// TestBadFiles is the table of expected errors: each bad file must fail, and the message must
// name every listed fragment (key, value, rule) and none of the secrets.
func TestBadFiles(t *testing.T) {
	cases := map[string]struct {
		want    []string
		secrets []string
	}{
		"unknown-key.bad.yaml":       {want: []string{"store.passwrod", "is not a known key"}, secrets: []string{"hunter2"}},
		"unknown-topic-key.bad.yaml": {want: []string{"topics[0].lockduraton", "is not a known key"}}, // viper lower-cases keys
		"bad-values.bad.yaml": {want: []string{
			`log.level = "loud": must be one of "debug", "info", "warn", "error"`,
			`camunda.url = "localhost:8080": must be an absolute http(s) URL`,
			`camunda.asyncResponseTimeout = "45m0s": must be from 1s to 30m`,
			"topics[0].lockDuration", "30000 has no unit",
		}},
		"topics.bad.yaml": {want: []string{
			`topics[1].name = "dup": is also the name of topics[0]`,
			`topics[1].maxParallel = "-1": must be from 1 to 10000`,
			`topics[1].result.onMissingRow = "explode": must be one of "insert", "ignore", "fail"`,
			"topics[2].name: is required",
			"topics[2].processDefinitionKeyIn",
			"topics[2].withoutTenantId",
		}},
		"missing-password.bad.yaml": {want: []string{"store.password: is required for the mssql driver", "DB_PASSWORD"}},
		"auth.bad.yaml": {
			want:    []string{"camunda.auth.token", "<redacted>", "cannot be combined"},
			secrets: []string{"pw-secret", "tok-secret"},
		},
		"not-yaml.bad.yaml": {want: []string{"not-yaml.bad.yaml", "must be valid YAML"}},
		"start.bad.yaml": {want: []string{
			`http.startableProcesses[1] = "no spaces please": must be a process definition key`,
			`http.startLease = "15s": must be at least twice http.startTimeout (10s)`,
			`failover.deadAfter = "5s": must be at least three failover.heartbeatInterval (2s)`,
		}},
		"entra.bad.yaml": {want: []string{
			`store.params.fedauth = "<redacted>": must be one of go-mssqldb's Entra ID workflows`, "ActiveDirectoryDefault",
			`store.migrateTimeout = "0s": must be a positive duration`,
		}},
		"nan.bad.yaml": {want: []string{
			"camunda.lockExtensionFraction", "NaN is not a finite number",
			"topics[0].maxTasks", "+Inf is not a finite number",
			"topics[0].processVariables[0].value", "must be a finite number",
		}},
		"floors.bad.yaml": {want: []string{
			`store.breakerOpenFor = "1ns": must be at least 100ms`,
			`camunda.asyncResponseTimeout = "1ms": must be from 1s to 30m`,
			`camunda.pollBackoff.initial = "1ns": must be at least 100ms`,
			`camunda.lockExtensionFraction = "0.0001": must be at least 0.1 and below 1`,
			`topics[0].retryBackoff.initial = "1ns": must be at least 100ms`,
			`retention.interval = "1ns": must be at least 1s`,
		}},
		"pending-after.bad.yaml": {want: []string{`retention.pendingAfter = "10s": must be longer than waitroom.timeout (25s)`}},
		"metrics-auth.bad.yaml":  {want: []string{"http.metricsAuth", "needs http.authToken"}},
		"oauth2.bad.yaml": {
			want: []string{
				"camunda.auth.oauth2: cannot be combined with camunda.auth.username/password or camunda.auth.token: choose one login",
				`camunda.auth.oauth2.tokenUrl = "ftp://<redacted>@idp.example/token": is required with camunda.auth.oauth2 and must be the absolute http(s) URL of the token endpoint`,
				"camunda.auth.oauth2.clientId: is required with camunda.auth.oauth2",
				`camunda.auth.oauth2.scopes[0] = "engine rest": must be one scope without spaces`,
				`camunda.tls.certFile = "/nonexistent/client.pem": must name a readable PEM file`,
				"camunda.tls.keyFile: is required when camunda.tls.certFile is set",
			},
			secrets: []string{"pw-secret", "oauth-client-secret", "idp-user", "idp-url-secret"},
		},
		"leaks.bad.yaml": {
			want:    []string{"store.dsn", "<redacted>@/db?host=/var/run/postgresql", "camunda.url", "ftp://<redacted>@engine:8080"},
			secrets: []string{"pw-in-dsn", "zz", "cam-user", "cam-url-secret", "param-secret-value"},
		},
	}
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(cases), "every bad file needs a row in the table, and every row a file")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Load(filepath.Join("testdata", name), env(nil))
			require.Error(t, err)
			var cerr *Error
			require.True(t, errors.As(err, &cerr), "want *config.Error, got %T: %v", err, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			for _, s := range tc.secrets {
				require.NotContains(t, err.Error(), s, "a secret leaked into the error")
			}
		})
	}
}

// TestStartAndFailoverKeys: the start protocol's and failover's defaults, and the allow-list
// from the environment as a comma-separated list.
func TestStartAndFailoverKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	c, _, err := Load("", env(nil))
	require.NoError(t, err)
	require.Empty(t, c.HTTP.StartableProcesses, "empty: the embedded models")
	require.Equal(t, 5*time.Second, c.HTTP.StartTimeout)
	require.Equal(t, 15*time.Second, c.HTTP.StartLease)
	require.True(t, c.Failover.Enabled)
	require.Equal(t, time.Second, c.Failover.HeartbeatInterval)
	require.Equal(t, 4*time.Second, c.Failover.DeadAfter)

	c, _, err = Load("", env(map[string]string{
		"WAITROOM_HTTP_STARTABLEPROCESSES": "onboard-user,invoice.v2",
		"WAITROOM_FAILOVER_ENABLED":        "false",
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"onboard-user", "invoice.v2"}, c.HTTP.StartableProcesses)
	require.False(t, c.Failover.Enabled)
}

func TestMissingExplicitFile(t *testing.T) {
	_, _, err := Load("testdata/does-not-exist.yaml", env(nil))
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	require.Contains(t, err.Error(), "--config")
	require.Contains(t, err.Error(), "does-not-exist.yaml")
}

// TestEntraIDStoreDSN: an Entra ID login needs neither user nor password, and the built DSN
// carries fedauth and no empty user info; ActiveDirectoryPassword still needs both.
func TestEntraIDStoreDSN(t *testing.T) {
	c, _, err := Load("testdata/entra.good.yaml", env(nil))
	require.NoError(t, err)
	dsn := c.StoreDSN()
	require.True(t, strings.HasPrefix(dsn, "sqlserver://example.database.windows.net:1433?"), dsn)
	require.Contains(t, dsn, "fedauth=ActiveDirectoryDefault")
	require.Contains(t, dsn, "database=camunda_db")
	require.Equal(t, time.Hour, c.Store.MigrateTimeout)

	p := writeTemp(t, "store:\n  driver: mssql\n  host: h\n  name: d\n  params: {fedauth: ActiveDirectoryPassword}\n")
	_, _, err = Load(p, env(nil))
	require.ErrorContains(t, err, "store.user: is required")
	require.ErrorContains(t, err, "store.password: is required")
	p = writeTemp(t, "store:\n  driver: postgres\n  host: h\n  name: d\n  user: u\n  password: pw\n  params: {fedauth: ActiveDirectoryDefault}\n")
	_, _, err = Load(p, env(nil))
	require.ErrorContains(t, err, "store.params.fedauth")
	require.ErrorContains(t, err, "is for the mssql driver only")
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestNodeServiceEnvironmentNames(t *testing.T) {
	t.Chdir(t.TempDir())
	c, _, err := Load("", env(map[string]string{
		"DB_HOST":         "sql.example",
		"DB_PORT":         "1444",
		"DB_NAME":         "camunda_db",
		"DB_USER":         "waitroom",
		"DB_PASSWORD":     "p@ss;word",
		"SYNC_TIMEOUT_MS": "5000",
		"PORT":            "9090",
	}))
	require.NoError(t, err)
	require.Equal(t, DriverMSSQL, c.Store.Driver, "DB_HOST alone selects SQL Server, as the Node.js service did")
	require.Equal(t, 5*time.Second, c.Waitroom.Timeout)
	require.Equal(t, ":9090", c.HTTP.Addr)
	dsn := c.StoreDSN()
	require.True(t, strings.HasPrefix(dsn, "sqlserver://waitroom:"), dsn)
	require.Contains(t, dsn, "@sql.example:1444?")
	require.Contains(t, dsn, "database=camunda_db")
	require.Contains(t, dsn, "app+name=camunda-waitroom")
}

func TestWaitroomEnvWinsOverNodeServiceName(t *testing.T) {
	t.Chdir(t.TempDir())
	c, _, err := Load("", env(map[string]string{
		"DB_DSN":                    "file:node.db",
		"WAITROOM_STORE_DSN":        "file:ours.db",
		"WAITROOM_WAITROOM_TIMEOUT": "3s",
		"SYNC_TIMEOUT_MS":           "9000",
		"WAITROOM_CAMUNDA_URL":      "http://engine:8080/engine-rest",
		"WAITROOM_LOG_LEVEL":        "debug",
	}))
	require.NoError(t, err)
	require.Equal(t, "file:ours.db", c.StoreDSN())
	require.Equal(t, 3*time.Second, c.Waitroom.Timeout)
	require.Equal(t, "http://engine:8080/engine-rest", c.Camunda.URL)
	require.Equal(t, "debug", c.Log.Level)
}

func TestBadEnvironment(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"SYNC_TIMEOUT_MS": "soon"}, []string{"waitroom.timeout (env SYNC_TIMEOUT_MS)", `"soon"`, "milliseconds"}},
		{map[string]string{"PORT": "70000"}, []string{"http.addr (env PORT)", "70000", "1 to 65535"}},
		{map[string]string{"DB_PORT": "abc"}, []string{"store.port"}},
		{map[string]string{"WAITROOM_CAMUNDA_SHUTDOWNTIMEOUT": "-1s"}, []string{"camunda.shutdownTimeout", "positive"}},
		{map[string]string{"DB_HOST": "h", "DB_NAME": "n", "DB_USER": "u"}, []string{"store.password", "DB_PASSWORD"}},
		{map[string]string{"WAITROOM_INSTANCE_ID": "replica/1"}, []string{`instance.id = "replica/1"`, "[A-Za-z0-9._:-]"}},
		{map[string]string{"WAITROOM_CAMUNDA_SHUTDOWNTIMEOUT": "15s"}, []string{"camunda.shutdownTimeout", "longer than camunda.asyncResponseTimeout (20s)"}},
		{map[string]string{"WAITROOM_CAMUNDA_LOCKEXTENSIONFRACTION": "NaN"}, []string{"camunda.lockExtensionFraction", "not a finite number"}},
		{map[string]string{"WAITROOM_STORE_MAXOPENCONNS": "Inf"}, []string{"store.maxOpenConns", "not a finite number"}},
		{map[string]string{"WAITROOM_CAMUNDA_POLLBACKOFF_INITIAL": "1ns"}, []string{"camunda.pollBackoff.initial", "at least 100ms"}},
		{map[string]string{"WAITROOM_CAMUNDA_TENANTID": "team/a"}, []string{`camunda.tenantId = "team/a"`, "[A-Za-z0-9._-]"}},
		{map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u:p@ss@h/db"}, []string{`store.dsn = "postgres://<redacted>@h/db": is not a valid URL`, "@ as %40"}},
		{map[string]string{"WAITROOM_STORE_DRIVER": "postgres", "DB_DSN": "postgres://u:p%zz@h/db"}, []string{"store.dsn", "is not a valid URL"}},
		{map[string]string{"SYNC_TIMEOUT_MS": "90000000"}, []string{"retention.pendingAfter", "longer than waitroom.timeout (25h0m0s)"}},
	}
	for _, tc := range cases {
		_, _, err := Load("", env(tc.env))
		require.Error(t, err, "%v", tc.env)
		for _, w := range tc.want {
			require.Contains(t, err.Error(), w, "%v", tc.env)
		}
	}
}

func TestRedaction(t *testing.T) {
	t.Chdir(t.TempDir())
	c, _, err := Load("", env(map[string]string{
		"DB_HOST":                        "sql.example",
		"DB_NAME":                        "camunda_db",
		"DB_USER":                        "waitroom",
		"DB_PASSWORD":                    "Sup3rS3cret",
		"WAITROOM_CAMUNDA_AUTH_USERNAME": "demo",
		"WAITROOM_CAMUNDA_AUTH_PASSWORD": "CamundaPw",
		"WAITROOM_HTTP_AUTHTOKEN":        "FrontToken",
	}))
	require.NoError(t, err)
	out, err := c.DumpYAML()
	require.NoError(t, err)
	s := string(out)
	for _, secret := range []string{"Sup3rS3cret", "CamundaPw", "FrontToken"} {
		require.NotContains(t, s, secret)
	}
	require.Contains(t, s, "password: <redacted>")
	require.Contains(t, s, "username: demo")
	require.Contains(t, s, "token: \"\"", "an unset secret shows as empty")
	// The effective config itself is untouched.
	require.Equal(t, "Sup3rS3cret", c.Store.Password)
}

// TestRedactDSN: redaction by structure. The user goes with the password (everything between
// "://" and the last "@"): a user name can be a token too.
func TestRedactDSN(t *testing.T) {
	cases := map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":      "postgres://<redacted>@h:5432/db?sslmode=disable",
		"sqlserver://u:pw@h:1433?database=d&password=pw": "sqlserver://<redacted>@h:1433?database=d&password=<redacted>",
		"server=h;user id=u;password=pw;database=d":      "server=h;user id=u;password=<redacted>;database=d",
		"Server=h;PWD={a;b}}pw};Database=d":              "Server=h;PWD=<redacted>;Database=d",
		`Server=h;Password="a;""pw";Database=d`:          "Server=h;Password=<redacted>;Database=d",
		"host=h user=u password='p w\\' pw' dbname=d":    "host=h user=u password=<redacted> dbname=d",
		"host=h user=u password = pw dbname=d":           "host=h user=u password = <redacted> dbname=d",
		"file:waitroom.db":                               "file:waitroom.db",
		"postgres://u@h/db":                              "postgres://<redacted>@h/db",
		// Found by probing and fuzzing: characters that break URL parsing.
		"postgres://u:p#w@h/db":                   "postgres://<redacted>@h/db",
		"postgres://u:p%zzw@h/db":                 "postgres://<redacted>@h/db",
		"postgres://u:p/w?x@h/db":                 "postgres://<redacted>@h/db",
		`postgres://u:p"w@h/db`:                   "postgres://<redacted>@h/db",
		"postgres://u:p@w@h/db":                   "postgres://<redacted>@h/db",
		"postgres://u:pw@/db?host=/run/pg":        "postgres://<redacted>@/db?host=/run/pg",
		"postgres:///db?user=u&password=p%23w":    "postgres:///db?user=u&password=<redacted>",
		"postgres://h/db?sslpassword=pw&x=1":      "postgres://h/db?sslpassword=<redacted>&x=1",
		"file:w.db?_auth_user=u&_auth_pass=pw":    "file:w.db?_auth_user=<redacted>&_auth_pass=<redacted>",
		"server=h;password=p w;x;database=d":      "server=h;password=<redacted>;database=d",
		"host=h password='unterminated pw":        "host=h password=<redacted>",
		"sqlserver://h?fedauth=x&clientsecret=pw": "sqlserver://h?fedauth=<redacted>&clientsecret=<redacted>",
		// Found by FuzzRedactDSN: a backslash is no escape in SQL Server's double quotes.
		`Server=db;Password="a\""pw";Database=d`: "Server=db;Password=<redacted>;Database=d",
	}
	for in, want := range cases {
		got := RedactDSN(in)
		require.NotContains(t, got, "pw", in)
		require.Equal(t, want, got, in)
	}
}

func TestRedactedHidesEveryParamAndURLCredentials(t *testing.T) {
	c := Config{}
	c.Store.Params = map[string]string{"fedauth": "ActiveDirectoryServicePrincipal", "encrypt": "true", "user id": "app-id-secret"}
	c.Store.Password = "pw-secret"
	c.Camunda.URL = "http://cam:url-secret@engine:8080/engine-rest"
	c.Topics = []Topic{{Name: "t"}}
	r := c.Redacted()
	require.Equal(t, map[string]string{"fedauth": Redacted, "encrypt": Redacted, "user id": Redacted}, r.Store.Params)
	require.Equal(t, Redacted, r.Store.Password)
	require.Equal(t, "http://<redacted>@engine:8080/engine-rest", r.Camunda.URL)
	// The original is untouched (maps and slices are copied, not shared).
	require.Equal(t, "app-id-secret", c.Store.Params["user id"])
	require.Equal(t, "http://cam:url-secret@engine:8080/engine-rest", c.Camunda.URL)

	c.Store.Driver, c.Store.Host, c.Store.User, c.Store.Name = DriverMSSQL, "sql.example", "u", "d"
	dsn := c.RedactedStoreDSN()
	for _, s := range []string{"pw-secret", "app-id-secret", "ActiveDirectory"} {
		require.NotContains(t, dsn, s)
	}
	require.Contains(t, dsn, "@sql.example:1433")
	require.Contains(t, dsn, "fedauth=<redacted>")
}

func TestScrub(t *testing.T) {
	c := Config{}
	c.Store.Password = `p"w/ secret`
	c.Store.Params = map[string]string{"fedauth": "tok-param"}
	c.Camunda.Auth.Token = "abc" // too short to scrub: it would be found inside ordinary words
	c.Store.DSN = "postgres://dsnuser:dsn%2Fpw@h/db"
	msg := `connect: password "p\"w/ secret" p%22w%2F+secret tok-param dsn%2Fpw dsn/pw abc`
	got := c.Scrub(msg)
	for _, s := range []string{`p\"w/ secret`, "p%22w%2F+secret", "tok-param", "dsn%2Fpw", "dsn/pw"} {
		require.NotContains(t, got, s)
	}
	require.Contains(t, got, "abc")
}

func TestEnvNames(t *testing.T) {
	require.Equal(t, []string{"WAITROOM_STORE_PASSWORD", "DB_PASSWORD"}, EnvNames("store.password"))
	require.Equal(t, []string{"WAITROOM_WAITROOM_TIMEOUT", "SYNC_TIMEOUT_MS"}, EnvNames("waitroom.timeout"))
	require.Equal(t, []string{"WAITROOM_HTTP_ADDR", "PORT"}, EnvNames("http.addr"))
	require.Equal(t, []string{"WAITROOM_CAMUNDA_ASYNCRESPONSETIMEOUT"}, EnvNames("camunda.asyncResponseTimeout"))
}

// TestConfigFileMustBeASmallRegularFile: --config /dev/zero used to read until memory ran out,
// and a FIFO would block start-up until something wrote to it.
func TestConfigFileMustBeASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileBytes)+"\n"), 0o600))
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	cases := map[string][]string{
		"/dev/zero": {"--config", "/dev/zero", "is not a regular file (a character device)"},
		fifo:        {"--config", "is not a regular file (a FIFO)"},
		big:         {"--config", "over the limit of 1048576"},
		dir:         {"--config", "is not a regular file (a directory)"},
	}
	for path, want := range cases {
		t.Run(filepath.Base(path), func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, _, err := Load(path, env(nil)); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Load blocked on the file") // the FIFO case before the fix
			}
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			for _, w := range want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestUnknownEnvironmentNames: LoadEnviron refuses a misspelled WAITROOM_ name and names the
// closest known one; names set by other tools are left alone.
func TestUnknownEnvironmentNames(t *testing.T) {
	t.Chdir(t.TempDir())
	_, _, err := LoadEnviron("", []string{
		"WAITROOM_CAMUNDA_URLL=http://engine:8080/engine-rest",
		"WAITROOM_WAITROOM_TIMOUT=5s",
		"WAITROOM_COMPLETELY_DIFFERENT=1",
		"PATH=/usr/bin",
	})
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	msg := err.Error()
	require.Contains(t, msg, "env WAITROOM_CAMUNDA_URLL: is not a known environment name: did you mean WAITROOM_CAMUNDA_URL?")
	require.Contains(t, msg, "env WAITROOM_WAITROOM_TIMOUT: is not a known environment name: did you mean WAITROOM_WAITROOM_TIMEOUT?")
	require.Contains(t, msg, "env WAITROOM_COMPLETELY_DIFFERENT: is not a known environment name: unset it")
	require.NotContains(t, msg, "PATH")

	c, _, err := LoadEnviron("", []string{
		// Kubernetes service links of a Service named "waitroom".
		"WAITROOM_SERVICE_HOST=10.0.0.1", "WAITROOM_SERVICE_PORT=8088", "WAITROOM_PORT=tcp://10.0.0.1:8088",
		"WAITROOM_PORT_8088_TCP_ADDR=10.0.0.1",
		// This repository's test and development tools.
		"WAITROOM_TEST_PG_DSN=postgres://x", "WAITROOM_PG_DB=waitroom_dev", "WAITROOM_APP_MAIN=1",
		// Known names, and store.params entries.
		"WAITROOM_LOG_LEVEL=debug", "WAITROOM_STORE_PARAMS_FEDAUTH=ActiveDirectoryDefault", "DB_PASSWORD=x",
	})
	require.NoError(t, err)
	require.Equal(t, "debug", c.Log.Level)
	require.Equal(t, "ActiveDirectoryDefault", c.Store.Params["fedauth"])
}

func TestTenantIDScopesTopicsWithoutTheirOwnTenantFilter(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`
camunda: {tenantId: team-a}
topics:
  - name: plain
  - name: own
    tenantIdIn: [team-b]
  - name: shared
    withoutTenantId: true
`), 0o600))
	c, _, err := Load(p, env(nil))
	require.NoError(t, err)
	require.Equal(t, []string{"team-a"}, c.Topics[0].TenantIDIn)
	require.Equal(t, []string{"team-b"}, c.Topics[1].TenantIDIn)
	require.Empty(t, c.Topics[2].TenantIDIn)
}

// TestOAuth2Keys: the OAuth2 keys from the environment (scopes comma-separated), the client
// secret hidden in `worker config`'s dump and scrubbed from messages, the token endpoint shown
// (it is where tokens come from, not a token) but without credentials in its URL.
func TestOAuth2Keys(t *testing.T) {
	t.Chdir(t.TempDir())
	const secret = "Cl1ent-S3cret/+="
	c, _, err := Load("", env(map[string]string{
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL":     "https://login.example/realms/w/protocol/openid-connect/token",
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTID":     "camunda-waitroom",
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET": secret,
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_SCOPES":       "engine-rest,openid",
	}))
	require.NoError(t, err)
	o := c.Camunda.Auth.OAuth2
	require.Equal(t, OAuth2{
		TokenURL: "https://login.example/realms/w/protocol/openid-connect/token", ClientID: "camunda-waitroom",
		ClientSecret: secret, Scopes: []string{"engine-rest", "openid"},
	}, o)
	dump, err := c.DumpYAML()
	require.NoError(t, err)
	require.NotContains(t, string(dump), secret)
	require.Contains(t, string(dump), "clientSecret: <redacted>")
	require.Contains(t, string(dump), "tokenUrl: https://login.example/realms/w/protocol/openid-connect/token")
	require.Contains(t, string(dump), "clientId: camunda-waitroom")
	got := c.Scrub("token endpoint said: client_secret=" + url.QueryEscape(secret) + " or " + secret)
	require.NotContains(t, got, secret)
	require.NotContains(t, got, url.QueryEscape(secret))

	// A token URL with credentials in it: shown without them, and they are scrubbed.
	c.Camunda.Auth.OAuth2.TokenURL = "https://idp-user:idp-pass@login.example/token?client_secret=q-secret"
	r := c.Redacted()
	require.Equal(t, "https://<redacted>@login.example/token?client_secret=<redacted>", r.Camunda.Auth.OAuth2.TokenURL)
	require.NotContains(t, c.Scrub("Post https://idp-user:idp-pass@login.example/token?client_secret=q-secret"), "idp-pass")
	require.NotContains(t, c.Scrub("Post https://idp-user:idp-pass@login.example/token?client_secret=q-secret"), "q-secret")
}

// TestOAuth2AndMTLSRules: OAuth2 excludes the other logins and needs all three keys; a
// client certificate needs its key and both files must exist. Each error names the key and
// the fix, never the secret.
func TestOAuth2AndMTLSRules(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	require.NoError(t, os.WriteFile(cert, []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(key, []byte("x"), 0o600))
	full := map[string]string{
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL":     "http://127.0.0.1:9/token",
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTID":     "id",
		"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET": "s3cret-value",
	}
	with := func(extra map[string]string, drop ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for _, k := range drop {
			delete(m, k)
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string // "" = valid
	}{
		"oauth2 alone":          {env: full},
		"oauth2 and mTLS":       {env: with(map[string]string{"WAITROOM_CAMUNDA_TLS_CERTFILE": cert, "WAITROOM_CAMUNDA_TLS_KEYFILE": key})},
		"oauth2 and token":      {env: with(map[string]string{"WAITROOM_CAMUNDA_AUTH_TOKEN": "tok-value"}), want: "camunda.auth.oauth2: cannot be combined"},
		"oauth2 and basic":      {env: with(map[string]string{"WAITROOM_CAMUNDA_AUTH_USERNAME": "u", "WAITROOM_CAMUNDA_AUTH_PASSWORD": "pw-value"}), want: "choose one login"},
		"no secret":             {env: with(nil, "WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET"), want: "camunda.auth.oauth2.clientSecret: is required with camunda.auth.oauth2: set it in WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET"},
		"secret without URL":    {env: with(nil, "WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL"), want: `camunda.auth.oauth2.tokenUrl: is required with camunda.auth.oauth2`},
		"relative URL":          {env: with(map[string]string{"WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL": "/token"}), want: `camunda.auth.oauth2.tokenUrl = "/token": is required`},
		"key without cert":      {env: map[string]string{"WAITROOM_CAMUNDA_TLS_KEYFILE": key}, want: "camunda.tls.certFile: is required when camunda.tls.keyFile is set"},
		"missing key file":      {env: map[string]string{"WAITROOM_CAMUNDA_TLS_CERTFILE": cert, "WAITROOM_CAMUNDA_TLS_KEYFILE": filepath.Join(dir, "nope.pem")}, want: "camunda.tls.keyFile = "},
		"mTLS with basic login": {env: map[string]string{"WAITROOM_CAMUNDA_TLS_CERTFILE": cert, "WAITROOM_CAMUNDA_TLS_KEYFILE": key, "WAITROOM_CAMUNDA_AUTH_USERNAME": "u", "WAITROOM_CAMUNDA_AUTH_PASSWORD": "pw-value"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, _, err := Load("", env(tc.env))
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, tc.env["WAITROOM_CAMUNDA_TLS_CERTFILE"], c.Camunda.TLS.CertFile)
				return
			}
			require.ErrorContains(t, err, tc.want)
			for _, s := range []string{"s3cret-value", "tok-value", "pw-value"} {
				require.NotContains(t, err.Error(), s)
			}
		})
	}
}
