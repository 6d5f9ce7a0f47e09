package waitroom

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// hungClearStore is a memStore whose ClearOwned blocks until its context ends, as on a
// database that stopped answering.
type hungClearStore struct{ *memStore }

func (h hungClearStore) ClearOwned(ctx context.Context, _ json.RawMessage) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestRunServesUntilCancelledThenStops: Run is the Room's whole life: waits work while it
// runs, and when ctx ends it stops as Stop does (a wait in progress ends with ErrClosed) and
// returns.
func TestRunServesUntilCancelledThenStops(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	r, err := New(mem, fastCfg())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	bg := context.Background()
	_, err = r.Register(bg, "run-1")
	require.NoError(t, err)
	ch := goWait(bg, r, "run-1")
	_, err = mem.finish("run-1", repo.StatusDone, json.RawMessage(`{"ok":1}`)) // as another process would
	require.NoError(t, err)
	res := recv(t, ch, 5*time.Second)
	require.NoError(t, res.err, "the dispatcher runs: the poll finds the finished row")

	ch = goWait(bg, r, "run-2")
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	require.ErrorIs(t, recv(t, ch, time.Second).err, ErrClosed)
}

// TestRunBoundsItsStopByStopTimeout: with ClearOnShutdown on a database that hangs, Run
// still returns once Options.StopTimeout has passed, with the clear's error.
func TestRunBoundsItsStopByStopTimeout(t *testing.T) {
	t.Parallel()
	cfg := fastCfg()
	cfg.ClearOnShutdown = true
	cfg.StopTimeout = 200 * time.Millisecond
	r, err := New(hungClearStore{newMemStore()}, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "clear owned waits")
	case <-time.After(10 * time.Second):
		t.Fatal("Run's stop was not bounded by StopTimeout")
	}
}
