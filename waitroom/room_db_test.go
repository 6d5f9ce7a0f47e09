package waitroom

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
)

// pgDSNEnv holds the PostgreSQL test server's DSN (scripts/postgres.sh env prints it). The
// tests create a private database per test on it, so they never see other packages' rows or
// notifications, and the fault tests can cut off that database alone.
const pgDSNEnv = "WAITROOM_TEST_PG_DSN"

// backend is one store the suite runs on.
type backend struct {
	name   string
	driver string
	dsn    string // the store's DSN
	notify string // set (the DSN): Rooms use the postgres store's listener (Options.PollOnly unset); "" polls only
}

func pgBaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(pgDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL tests expected: " + pgDSNEnv + " is unset under CI=true")
		}
		t.Skip("PostgreSQL tests skipped: run `eval \"$(bash scripts/postgres.sh env)\"` to set " + pgDSNEnv)
	}
	return dsn
}

// privateDB creates a database of its own for one test, migrated, and drops it afterwards.
func privateDB(t testing.TB) (dsn, name string) {
	t.Helper()
	base := pgBaseDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "waitroom_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	dsn = u.String()
	s, err := openStore(ctx, repo.DriverPostgres, dsn, "migrator")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return dsn, name
}

// pgAdmin runs SQL on the base database (not the test's private one) as the superuser.
func pgAdmin(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pgBaseDSN(t))
	require.NoError(t, err)
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

func sqliteBackend(t testing.TB) backend {
	dsn := filepath.Join(t.TempDir(), "waitroom.db")
	s, err := openStore(context.Background(), repo.DriverSQLite, dsn, "migrator")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return backend{name: "sqlite", driver: repo.DriverSQLite, dsn: dsn}
}

// backends returns the suite's stores; kind is "sqlite", "postgres" (LISTEN) or
// "postgres-nonotify".
func newBackend(t testing.TB, kind string) backend {
	t.Helper()
	switch kind {
	case "sqlite":
		return sqliteBackend(t)
	case "postgres":
		dsn, _ := privateDB(t)
		return backend{name: kind, driver: repo.DriverPostgres, dsn: dsn, notify: dsn}
	case "postgres-nonotify":
		dsn, _ := privateDB(t)
		return backend{name: kind, driver: repo.DriverPostgres, dsn: dsn}
	}
	t.Fatalf("unknown backend %s", kind)
	return backend{}
}

var backendKinds = []string{"sqlite", "postgres", "postgres-nonotify"}

// room opens b's store as owner "test" and starts a Room on it.
func (b backend) room(t testing.TB, cfg Options, opts ...Option) (*Room, repo.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := openStore(ctx, b.driver, b.dsn, "test")
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	if b.notify == "" {
		cfg.PollOnly = true
	}
	r := newTestRoom(t, store, cfg, opts...)
	if b.notify != "" {
		eventually(t, 10*time.Second, "LISTEN up", r.Listening)
	}
	return r, store
}

func dbCfg() Options {
	return Options{Timeout: 20 * time.Second, PollInterval: 50 * time.Millisecond,
		NotifyPollInterval: time.Second, MaxWaiters: 10000}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func TestDatabases(t *testing.T) {
	t.Parallel()
	for _, kind := range backendKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, kind)
			t.Run("OtherProcessCompletes", func(t *testing.T) { testOtherProcess(t, b) })
			t.Run("SameProcessCompletes", func(t *testing.T) { testSameProcess(t, b) })
			t.Run("TimeoutLeavesPending", func(t *testing.T) { testTimeout(t, b) })
			t.Run("Cancellation", func(t *testing.T) { testCancel(t, b) })
			t.Run("ErrorFromOtherProcess", func(t *testing.T) { testError(t, b) })
			t.Run("AlreadyFinished", func(t *testing.T) { testAlreadyFinished(t, b) })
		})
	}
}

// testOtherProcess: many waiters on distinct ids and several on one id, all woken by
// completions committed in another OS process.
func testOtherProcess(t *testing.T, b backend) {
	r, _ := b.room(t, dbCfg())
	ctx := context.Background()
	distinct := ids("other-"+NewID()[:8], 200)
	shared := "shared-" + NewID()
	all := append([]string{shared}, distinct...)
	for _, id := range all {
		_, err := r.Register(ctx, id)
		require.NoError(t, err)
	}
	var chans []<-chan waitResult
	for _, id := range distinct {
		chans = append(chans, goWait(ctx, r, id))
	}
	for range 5 {
		chans = append(chans, goWait(ctx, r, shared))
	}
	eventually(t, 10*time.Second, "waiters registered", func() bool { return r.Waiters() == len(chans) })
	start := time.Now()
	helperProc(t, b, "complete", "", `{"from":"helper"}`, all...)
	helperDone := time.Now()
	var worst time.Duration
	for _, ch := range chans {
		res := recv(t, ch, 10*time.Second)
		require.NoError(t, res.err)
		assert.JSONEq(t, `{"from":"helper"}`, string(res.payload))
		worst = max(worst, res.at.Sub(helperDone))
	}
	t.Logf("%s: %d waiters woken; helper ran %s; last wake %s after it exited",
		b.name, len(chans), helperDone.Sub(start).Round(time.Millisecond), worst.Round(time.Millisecond))
	assert.Equal(t, 0, r.Waiters())

	if b.notify != "" {
		// The helper completing through a Room publishes bodies: waiters wake without a read.
		store, err := openStore(ctx, b.driver, b.dsn, "test")
		require.NoError(t, err)
		t.Cleanup(func() { store.Close() })
		spy := &spyStore{Store: store}
		r3 := newTestRoom(t, spy, Options{PollInterval: time.Hour, NotifyPollInterval: time.Hour},
			WithNotifyGrace(time.Second))
		eventually(t, 10*time.Second, "LISTEN up", r3.Listening)
		id := "body-" + NewID()
		_, err = r3.Register(ctx, id)
		require.NoError(t, err)
		ch := goWait(ctx, r3, id)
		eventually(t, 10*time.Second, "waiter registered", func() bool { return r3.Waiters() == 1 })
		helperProc(t, b, "complete", b.notify, `"via body"`, id)
		done := time.Now()
		res := recv(t, ch, 5*time.Second)
		require.NoError(t, res.err)
		assert.Equal(t, `"via body"`, string(res.payload))
		// Polling is off and the id-only notification waits 1 s for a body: the body
		// notification woke the waiter, with no read at all.
		assert.Less(t, res.at.Sub(done), 900*time.Millisecond)
		assert.Zero(t, spy.statuses.Load())
	}
}

func testSameProcess(t *testing.T, b backend) {
	cfg := dbCfg()
	cfg.PollInterval, cfg.NotifyPollInterval = time.Hour, time.Hour // only the local path
	r, _ := b.room(t, cfg)
	ctx := context.Background()
	id, err := r.Register(ctx, "")
	require.NoError(t, err)
	ch := goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	start := time.Now()
	out, err := r.Complete(ctx, id, json.RawMessage(`{"n":1}`))
	require.NoError(t, err)
	require.Equal(t, repo.Transitioned, out)
	res := recv(t, ch, 5*time.Second)
	require.NoError(t, res.err)
	assert.JSONEq(t, `{"n":1}`, string(res.payload))
	t.Logf("%s: local wake %s after Complete began", b.name, res.at.Sub(start))
}

func testTimeout(t *testing.T, b backend) {
	cfg := dbCfg()
	cfg.Timeout = 300 * time.Millisecond
	r, store := b.room(t, cfg)
	ctx := context.Background()
	id, _, err := r.Await(ctx, "")
	require.ErrorIs(t, err, ErrTimeout)
	rec, err := store.Find(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, repo.StatusPending, rec.Status, "a timeout leaves the row PENDING")
	pending, err := r.HasPending(ctx, id)
	require.NoError(t, err)
	assert.True(t, pending)
	n, err := r.PendingCount(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, int64(1))
	// Collected later, by id, after another process completed it.
	helperProc(t, b, "complete", "", `"later"`, id)
	p, err := r.Wait(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, `"later"`, string(p))
}

func testCancel(t *testing.T, b backend) {
	r, _ := b.room(t, dbCfg())
	bg := context.Background()
	id, err := r.Register(bg, "")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg)
	chCancelled, chKept := goWait(ctx, r, id), goWait(bg, r, id)
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == 2 })
	cancel()
	res := recv(t, chCancelled, 5*time.Second)
	require.ErrorIs(t, res.err, context.Canceled)
	helperProc(t, b, "complete", "", `"kept"`, id)
	res = recv(t, chKept, 10*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, `"kept"`, string(res.payload))
}

func testError(t *testing.T, b backend) {
	r, _ := b.room(t, dbCfg())
	ctx := context.Background()
	id, err := r.Register(ctx, "")
	require.NoError(t, err)
	ch := goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	helperProc(t, b, "fail", "", `{"error":"validation failed","code":422}`, id)
	res := recv(t, ch, 10*time.Second)
	var pe *ProcessError
	require.ErrorAs(t, res.err, &pe)
	assert.Equal(t, id, pe.CorrelationID)
	assert.JSONEq(t, `{"error":"validation failed","code":422}`, string(pe.Body))
}

func testAlreadyFinished(t *testing.T, b backend) {
	r, store := b.room(t, dbCfg())
	ctx := context.Background()
	id := "finished-" + NewID()
	ok, err := store.InsertFinished(ctx, id, repo.StatusDone, json.RawMessage(`"early"`))
	require.NoError(t, err)
	require.True(t, ok)
	_, err = r.Register(ctx, id)
	require.NoError(t, err)
	start := time.Now()
	p, err := r.Wait(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, `"early"`, string(p))
	assert.Less(t, time.Since(start), 50*time.Millisecond)
}

// TestPostgresNotificationsLost kills the LISTEN connection and keeps it from reconnecting
// while a row completes, so its notification is lost; polling is off (1 h), so only the sweep
// after the reconnect can find the row.
func TestPostgresNotificationsLost(t *testing.T) {
	t.Parallel()
	dsn, name := privateDB(t)
	b := backend{name: "postgres", driver: repo.DriverPostgres, dsn: dsn, notify: dsn}
	cfg := dbCfg()
	cfg.PollInterval, cfg.NotifyPollInterval = time.Hour, time.Hour
	r, store := b.room(t, cfg)
	ctx := context.Background()
	id, err := r.Register(ctx, "")
	require.NoError(t, err)
	ch := goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	pg := store.(*postgres.Store)
	oldPID := pg.ListenerPID()
	require.NotZero(t, oldPID)

	pgAdmin(t, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
	pgAdmin(t, "SELECT pg_terminate_backend($1)", int(oldPID))
	eventually(t, 10*time.Second, "LISTEN down", func() bool { return !r.Listening() })
	// Completed on a pooled connection that is still open; nobody listens.
	out, err := store.Complete(ctx, id, json.RawMessage(`"while deaf"`))
	require.NoError(t, err)
	require.Equal(t, repo.Transitioned, out)
	select {
	case res := <-ch:
		t.Fatalf("woken while LISTEN was down and polling off: %+v", res)
	default:
	}
	pgAdmin(t, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	res := recv(t, ch, 15*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, `"while deaf"`, string(res.payload))
	eventually(t, 10*time.Second, "LISTEN up again", r.Listening)
	assert.NotEqual(t, oldPID, pg.ListenerPID())
}

// TestPostgresDatabaseRestart simulates a database restart under waiters: connections to the
// test's database are refused and every backend on it (the store's pool, LISTEN, the
// publisher) is terminated; then it comes back. (The real `pg_ctlcluster 15 main restart`
// would break other packages' tests sharing the server, so it runs only with
// WAITROOM_TEST_PG_RESTART=1.)
func TestPostgresDatabaseRestart(t *testing.T) {
	t.Parallel()
	dsn, name := privateDB(t)
	b := backend{name: "postgres", driver: repo.DriverPostgres, dsn: dsn, notify: dsn}
	core, logs := observer.New(zap.InfoLevel)
	r, _ := b.room(t, dbCfg(), WithLogger(zap.New(core)))
	ctx := context.Background()
	all := ids("restart-"+NewID()[:8], 20)
	var chans []<-chan waitResult
	for _, id := range all {
		_, err := r.Register(ctx, id)
		require.NoError(t, err)
		chans = append(chans, goWait(ctx, r, id))
	}
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == len(all) })

	if os.Getenv("WAITROOM_TEST_PG_RESTART") == "1" {
		if _, err := exec.LookPath("pg_ctlcluster"); err != nil || os.Geteuid() != 0 {
			t.Skip("WAITROOM_TEST_PG_RESTART=1 needs root and pg_ctlcluster (Debian's PostgreSQL 15 cluster)")
		}
		out, err := execCommand("pg_ctlcluster", "15", "main", "stop", "-m", "fast")
		require.NoError(t, err, out)
		t.Cleanup(func() { _, _ = execCommand("pg_ctlcluster", "15", "main", "start") }) // if the test fails while down
		eventually(t, 10*time.Second, "LISTEN down", func() bool { return !r.Listening() })
		eventually(t, 10*time.Second, "poll failure logged", func() bool {
			return logs.FilterMessageSnippet("reading statuses failed").Len() > 0
		})
		out, err = execCommand("pg_ctlcluster", "15", "main", "start")
		require.NoError(t, err, out)
	} else {
		pgAdmin(t, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
		pgAdmin(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		eventually(t, 10*time.Second, "LISTEN down", func() bool { return !r.Listening() })
		eventually(t, 10*time.Second, "poll failure logged", func() bool {
			return logs.FilterMessageSnippet("reading statuses failed").Len() > 0
		})
		pgAdmin(t, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	}
	// Back: another process completes, half through a Room (body notifications), half through
	// the bare store (id notifications).
	helperProc(t, b, "complete", dsn, `"after restart"`, all[:10]...)
	helperProc(t, b, "complete", "", `"after restart"`, all[10:]...)
	for _, ch := range chans {
		res := recv(t, ch, 20*time.Second)
		require.NoError(t, res.err)
		assert.Equal(t, `"after restart"`, string(res.payload))
	}
	eventually(t, 10*time.Second, "LISTEN up again", r.Listening)
	assert.Equal(t, 1, logs.FilterMessageSnippet("reading statuses failed").Len(), "logged once per streak")
	eventually(t, 10*time.Second, "recovery logged", func() bool {
		return logs.FilterMessageSnippet("reading statuses recovered").Len() == 1
	})
	assert.Equal(t, 1, logs.FilterMessageSnippet("notification listener failed").Len(), "logged once per streak")
}

func execCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
