package repo_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

func sqliteStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), repo.Options{DSN: filepath.Join(t.TempDir(), "w.db"), Owner: "wrap-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := migrations.Up(context.Background(), st.DB(), repo.DriverSQLite); err != nil {
		t.Fatal(err)
	}
	return st
}

// calls makes one call of every Store method but Close, each named by the operation Wrap
// must report for it.
func calls() []struct {
	op   string
	call func(context.Context, repo.Store) error
} {
	body := json.RawMessage(`{"x":1}`)
	return []struct {
		op   string
		call func(context.Context, repo.Store) error
	}{
		{repo.OpCreate, func(c context.Context, s repo.Store) error { _, err := s.Create(c, "w1"); return err }},
		{repo.OpComplete, func(c context.Context, s repo.Store) error { _, err := s.Complete(c, "w1", body); return err }},
		{repo.OpFail, func(c context.Context, s repo.Store) error { _, err := s.Fail(c, "w1", body); return err }},
		{repo.OpInsertFinished, func(c context.Context, s repo.Store) error {
			_, err := s.InsertFinished(c, "w2", repo.StatusDone, body)
			return err
		}},
		{repo.OpFind, func(c context.Context, s repo.Store) error { _, err := s.Find(c, "w1"); return err }},
		{repo.OpStatuses, func(c context.Context, s repo.Store) error { _, err := s.Statuses(c, []string{"w1", "w2"}); return err }},
		{repo.OpList, func(c context.Context, s repo.Store) error { _, _, err := s.List(c, repo.ListOptions{}); return err }},
		{repo.OpDelete, func(c context.Context, s repo.Store) error { _, err := s.Delete(c, "w2"); return err }},
		{repo.OpPendingCount, func(c context.Context, s repo.Store) error { _, err := s.PendingCount(c); return err }},
		{repo.OpClearOwned, func(c context.Context, s repo.Store) error { _, err := s.ClearOwned(c, body); return err }},
		{repo.OpDeleteFinishedBefore, func(c context.Context, s repo.Store) error {
			_, err := s.DeleteFinishedBefore(c, time.Now(), 10)
			return err
		}},
		{repo.OpExpirePendingBefore, func(c context.Context, s repo.Store) error {
			_, err := s.ExpirePendingBefore(c, time.Now(), 10, body)
			return err
		}},
		{repo.OpPing, func(c context.Context, s repo.Store) error { return s.Ping(c) }},
		{repo.OpBeginStart, func(c context.Context, s repo.Store) error {
			_, _, err := s.BeginStart(c, "w3", "key", time.Second)
			return err
		}},
		{repo.OpReadStart, func(c context.Context, s repo.Store) error { _, err := s.ReadStart(c, "w3"); return err }},
		{repo.OpClaimStart, func(c context.Context, s repo.Store) error {
			_, err := s.ClaimStart(c, "w3", 1, time.Second)
			return err
		}},
		{repo.OpReleaseStart, func(c context.Context, s repo.Store) error { _, err := s.ReleaseStart(c, "w3", 1); return err }},
		{repo.OpSetInstance, func(c context.Context, s repo.Store) error { _, err := s.SetInstance(c, "w3", "i-1"); return err }},
		{repo.OpBeat, func(c context.Context, s repo.Store) error { return s.Beat(c, "worker-1") }},
		{repo.OpWorkers, func(c context.Context, s repo.Store) error { _, err := s.Workers(c); return err }},
		{repo.OpForgetWorker, func(c context.Context, s repo.Store) error { _, err := s.ForgetWorker(c, "worker-1", 0); return err }},
	}
}

// TestWrapInterceptsEveryCall: every method but Close runs through the interceptors, outer
// first, under its own operation name, and returns what the store returned.
func TestWrapInterceptsEveryCall(t *testing.T) {
	t.Parallel()
	st := sqliteStore(t)
	var outer, inner []string
	w := repo.Wrap(st,
		func(ctx context.Context, op string, call func(context.Context) error) error {
			outer = append(outer, op)
			if len(inner) != len(outer)-1 {
				t.Errorf("%s: the inner interceptor ran before the outer one", op)
			}
			return call(ctx)
		},
		func(ctx context.Context, op string, call func(context.Context) error) error {
			inner = append(inner, op)
			return call(ctx)
		})
	ctx := context.Background()
	var want []string
	for _, c := range calls() {
		want = append(want, c.op)
		if err := c.call(ctx, w); err != nil {
			t.Fatalf("%s through Wrap: %v", c.op, err)
		}
	}
	if !reflect.DeepEqual(outer, want) || !reflect.DeepEqual(inner, want) {
		t.Fatalf("intercepted %v / %v, want %v", outer, inner, want)
	}
	// Results pass through unchanged.
	got, err := w.Find(ctx, "w3")
	direct, derr := st.Find(ctx, "w3")
	if err != nil || derr != nil || !reflect.DeepEqual(got, direct) {
		t.Fatalf("Find through Wrap = %+v, %v; directly %+v, %v", got, err, direct, derr)
	}
	// Close is not a store call: it is not intercepted.
	n := len(outer)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(outer) != n {
		t.Fatal("Close was intercepted")
	}
}

// TestWrapRefusal: an interceptor that does not call keeps the call from the store and its
// error is the call's.
func TestWrapRefusal(t *testing.T) {
	t.Parallel()
	st := sqliteStore(t)
	errNo := errors.New("refused")
	reached := 0
	w := repo.Wrap(st,
		func(context.Context, string, func(context.Context) error) error { return errNo },
		func(ctx context.Context, _ string, call func(context.Context) error) error {
			reached++
			return call(ctx)
		})
	for _, c := range calls() {
		if err := c.call(context.Background(), w); !errors.Is(err, errNo) {
			t.Errorf("%s = %v, want the interceptor's error", c.op, err)
		}
	}
	if reached != 0 {
		t.Fatalf("%d calls passed a refusing interceptor", reached)
	}
	if n, err := st.PendingCount(context.Background()); err != nil || n != 0 {
		t.Fatalf("the store saw writes: %d pending, %v", n, err)
	}
}

// pushStore is a store with a push path, recording what reaches it.
type pushStore struct {
	repo.Store
	published []repo.Notification
	listened  bool
}

func (p *pushStore) SupportsListener() bool { return true }
func (p *pushStore) Listen(context.Context, func(repo.Notification), func(bool, error)) {
	p.listened = true
}
func (p *pushStore) Publish(_ context.Context, n repo.Notification) error {
	p.published = append(p.published, n)
	return nil
}

type pusher interface {
	SupportsListener() bool
	Listen(context.Context, func(repo.Notification), func(bool, error))
	Publish(context.Context, repo.Notification) error
}

// TestWrapPassesThePushPathThrough: a wrapped store has its inner store's listener, untouched
// by the interceptors; a store without one still has none.
func TestWrapPassesThePushPathThrough(t *testing.T) {
	t.Parallel()
	intercepted := 0
	count := func(ctx context.Context, _ string, call func(context.Context) error) error {
		intercepted++
		return call(ctx)
	}
	p := &pushStore{}
	w, ok := repo.Wrap(p, count).(pusher)
	if !ok || !w.SupportsListener() {
		t.Fatal("the wrapped store has no push path")
	}
	w.Listen(context.Background(), nil, nil)
	if err := w.Publish(context.Background(), repo.Notification{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if !p.listened || len(p.published) != 1 || intercepted != 0 {
		t.Fatalf("listened %t, published %v, intercepted %d", p.listened, p.published, intercepted)
	}
	plain, _ := repo.Wrap(sqliteStore(t), count).(pusher)
	if plain == nil || plain.SupportsListener() {
		t.Fatal("a wrapped SQLite store claims a listener")
	}
}
