package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest/pgtest"
)

// schemaDSN is the DSN of this test binary's own schema, migrated; "" when
// WAITROOM_TEST_PG_DSN is unset (each test then skips, or fails under CI=true).
var schemaDSN string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if dsn := os.Getenv(pgtest.EnvDSN); dsn != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sdsn, drop, err := pgtest.NewSchema(ctx, dsn, "repo_postgres_test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() {
			if err := drop(); err != nil {
				fmt.Fprintln(os.Stderr, "drop test schema:", err)
			}
		}()
		db, err := postgres.OpenDB(sdsn)
		if err == nil {
			err = migrations.Up(ctx, db, repo.DriverPostgres)
			db.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "migrate the test schema:", err)
			return 1
		}
		schemaDSN = sdsn
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// testDSN returns the migrated schema's DSN, or skips (fails under CI=true).
func testDSN(t *testing.T) string {
	t.Helper()
	pgtest.DSN(t)
	return schemaDSN
}

func newStore(t *testing.T, dsn, owner string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), repo.Options{Driver: repo.DriverPostgres, DSN: dsn, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	// Leave room on a shared server: the suite opens many stores, and its races many
	// statements at once.
	st.DB().SetMaxOpenConns(8)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	repotest.Run(t, func(t *testing.T, owner string) repo.Store {
		return newStore(t, dsn, owner)
	})
}

// TestNotify listens on postgres.NotifyChannel and checks that each finishing call notifies its
// id once it commits, and that a repeat that finds the row finished notifies nothing.
func TestNotify(t *testing.T) {
	dsn := testDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+postgres.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	st := newStore(t, dsn, "notify-owner")
	prefix := fmt.Sprintf("notify.%d.", time.Now().UnixNano())
	id := func(s string) string { return prefix + s }

	// next returns the next notification for this test's ids (other tests may notify too).
	next := func() string {
		t.Helper()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				t.Fatalf("waiting for a notification: %v", err)
			}
			if n.Channel != postgres.NotifyChannel {
				t.Fatalf("notification on %q", n.Channel)
			}
			if strings.HasPrefix(n.Payload, prefix) {
				return strings.TrimPrefix(n.Payload, prefix)
			}
		}
	}
	expect := func(want string) {
		t.Helper()
		if got := next(); got != want {
			t.Fatalf("notification %q, want %q", got, want)
		}
	}
	do := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	body := []byte(`{"ok":true}`)

	_, err = st.Create(ctx, id("c"))
	do("create", err)
	_, err = st.Complete(ctx, id("c"), body)
	do("complete", err)
	expect("c")

	// Repeats find the row finished and send nothing; the marker after them proves it, since
	// notifications arrive in commit order.
	out, err := st.Complete(ctx, id("c"), body)
	do("repeat complete", err)
	if out != repo.AlreadyFinished {
		t.Fatalf("repeat Complete = %v", out)
	}
	_, err = st.Fail(ctx, id("c"), body)
	do("fail after complete", err)
	_, err = st.Create(ctx, id("c")) // a refresh of a finished row changes nothing
	do("create after complete", err)
	_, err = st.Complete(ctx, id("missing"), body)
	do("complete missing", err)
	_, err = st.InsertFinished(ctx, id("c"), repo.StatusDone, body) // exists: not inserted
	do("insert finished existing", err)
	_, err = st.InsertFinished(ctx, id("marker1"), repo.StatusDone, body)
	do("insert finished marker", err)
	expect("marker1")

	_, err = st.Create(ctx, id("f"))
	do("create", err)
	_, err = st.Fail(ctx, id("f"), body)
	do("fail", err)
	expect("f")

	_, err = st.Create(ctx, id("o1"))
	do("create", err)
	n, err := st.ClearOwned(ctx, body)
	do("clear owned", err)
	if n != 1 {
		t.Fatalf("ClearOwned = %d, want 1", n)
	}
	expect("o1")

	e, err := st.Create(ctx, id("e"))
	do("create", err)
	n, err = st.ExpirePendingBefore(ctx, e.StartedAt.Add(time.Microsecond), 1000, body)
	do("expire", err)
	if n < 1 {
		t.Fatalf("ExpirePendingBefore = %d, want at least 1", n)
	}
	expect("e")

	// A Complete inside a transaction that rolls back would notify nothing; the store has no
	// such transaction, but a refresh of a PENDING row (Create) must not notify either.
	_, err = st.Create(ctx, id("p"))
	do("create", err)
	_, err = st.Create(ctx, id("p"))
	do("refresh", err)
	_, err = st.InsertFinished(ctx, id("marker2"), repo.StatusError, body)
	do("insert finished marker", err)
	expect("marker2")
}

func TestOpenNeedsOwner(t *testing.T) {
	dsn := testDSN(t)
	_, err := postgres.Open(context.Background(), repo.Options{DSN: dsn})
	if err == nil || !strings.Contains(err.Error(), "Options.Owner is empty") {
		t.Fatalf("Open without owner: %v", err)
	}
}

// TestListener: the store's push path delivers the store's own id-only notifications and
// another store's published completions with their bodies, says when LISTEN is up, and
// stops when its context ends.
func TestListener(t *testing.T) {
	dsn := testDSN(t)
	st := newStore(t, dsn, "listen-owner")
	if !st.SupportsListener() {
		t.Fatal("a store opened on a DSN has no listener")
	}
	prefix := fmt.Sprintf("listen.%d.", time.Now().UnixNano())
	notes := make(chan repo.Notification, 16)
	ups := make(chan bool, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Listen(ctx,
			func(n repo.Notification) {
				if strings.HasPrefix(n.ID, prefix) {
					notes <- n
				}
			},
			func(up bool, err error) {
				if !up && err != nil {
					t.Errorf("listener down: %v", err)
				}
				ups <- up
			})
	}()
	defer func() { cancel(); <-done }()
	next := func(what string) repo.Notification {
		t.Helper()
		select {
		case n := <-notes:
			return n
		case <-time.After(10 * time.Second):
			t.Fatalf("no notification: %s", what)
		}
		return repo.Notification{}
	}
	select {
	case up := <-ups:
		if !up {
			t.Fatal("first live report is down")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LISTEN not up within 10 s")
	}
	if st.ListenerPID() == 0 {
		t.Fatal("ListenerPID is 0 while LISTEN is up")
	}

	rctx := context.Background()
	if _, err := st.Create(rctx, prefix+"a"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Complete(rctx, prefix+"a", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if n := next("complete"); n.ID != prefix+"a" || n.Status != "" || n.Body != nil {
		t.Fatalf("after Complete: %+v, want the id alone", n)
	}
	other := newStore(t, dsn, "publisher")
	if err := other.Publish(rctx, repo.Notification{ID: prefix + "b", Status: repo.StatusError, Body: []byte(`{"e":2}`)}); err != nil {
		t.Fatal(err)
	}
	if n := next("publish"); n.ID != prefix+"b" || n.Status != repo.StatusError || string(n.Body) != `{"e":2}` {
		t.Fatalf("after Publish: %+v", n)
	}
	// Too large for NOTIFY: not sent, and not an error.
	if err := other.Publish(rctx, repo.Notification{ID: prefix + "big", Status: repo.StatusDone, Body: []byte(`"` + strings.Repeat("x", 8000) + `"`)}); err != nil {
		t.Fatalf("Publish of a large body: %v", err)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return after its context ended")
	}
	if up := <-ups; up {
		t.Fatal("no down report after the context ended")
	}
	if st.ListenerPID() != 0 {
		t.Fatal("ListenerPID is not 0 once Listen returned")
	}
}

// TestNoDSNNoListener: a store built by New without Options.DSN cannot open connections of
// its own, and says so.
func TestNoDSNNoListener(t *testing.T) {
	dsn := testDSN(t)
	db, err := postgres.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	st, err := postgres.New(context.Background(), db, repo.Options{Owner: "no-dsn"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.SupportsListener() {
		t.Fatal("SupportsListener without a DSN")
	}
	var downErr error
	st.Listen(context.Background(), func(repo.Notification) {}, func(up bool, err error) { downErr = err })
	if downErr == nil || !strings.Contains(downErr.Error(), "Options.DSN") {
		t.Fatalf("Listen without a DSN reported %v", downErr)
	}
}
