package waitroom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// eventually polls cond every 5 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline, not synchronising
	}
}

type waitResult struct {
	payload json.RawMessage
	err     error
	at      time.Time
}

// goWait starts r.Wait(ctx, id) and returns the channel its result arrives on.
func goWait(ctx context.Context, r *Room, id string) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		p, err := r.Wait(ctx, id)
		ch <- waitResult{p, err, time.Now()}
	}()
	return ch
}

func recv(t testing.TB, ch <-chan waitResult, d time.Duration) waitResult {
	t.Helper()
	select {
	case res := <-ch:
		return res
	case <-time.After(d):
		t.Fatalf("no wait result after %s", d)
		return waitResult{}
	}
}

func newTestRoom(t testing.TB, store repo.Store, cfg Options, opts ...Option) *Room {
	t.Helper()
	r, err := New(store, cfg, opts...)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

func fastCfg() Options {
	return Options{Timeout: 10 * time.Second, PollInterval: 20 * time.Millisecond,
		NotifyPollInterval: 500 * time.Millisecond, MaxWaiters: 1000}
}

func TestLocalCompletionWakesWithoutRead(t *testing.T) {
	t.Parallel()
	spy := &spyStore{Store: newMemStore()}
	cfg := fastCfg()
	cfg.PollInterval = time.Hour // only the local path can wake the waiter
	r := newTestRoom(t, spy, cfg)
	ctx := context.Background()

	id, err := r.Register(ctx, "")
	require.NoError(t, err)
	require.Len(t, id, 36)
	ch := goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	out, err := r.Complete(ctx, id, json.RawMessage(`{"ok":true}`))
	require.NoError(t, err)
	assert.Equal(t, repo.Transitioned, out)
	res := recv(t, ch, time.Second)
	require.NoError(t, res.err)
	assert.JSONEq(t, `{"ok":true}`, string(res.payload))
	assert.Equal(t, 0, r.Waiters())

	out, err = r.Complete(ctx, id, json.RawMessage(`{"ok":false}`))
	require.NoError(t, err)
	assert.Equal(t, repo.AlreadyFinished, out, "first writer wins")
	p, err := r.Wait(ctx, id) // a late Wait gets the result at once, from the recent cache
	require.NoError(t, err)
	assert.JSONEq(t, `{"ok":true}`, string(p))
	assert.Zero(t, spy.statuses.Load(), "no read was needed")
}

func TestFailAndInsertFinished(t *testing.T) {
	t.Parallel()
	r := newTestRoom(t, newMemStore(), fastCfg())
	ctx := context.Background()

	id, err := r.Register(ctx, "fail-1")
	require.NoError(t, err)
	ch := goWait(ctx, r, id)
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	_, err = r.Fail(ctx, id, json.RawMessage(`{"code":"E1"}`))
	require.NoError(t, err)
	res := recv(t, ch, time.Second)
	var pe *ProcessError
	require.ErrorAs(t, res.err, &pe)
	assert.Equal(t, "fail-1", pe.CorrelationID)
	assert.JSONEq(t, `{"code":"E1"}`, string(pe.Body))

	// A wait on an id with no row yet is woken by InsertFinished.
	ch = goWait(ctx, r, "late-1")
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	ok, err := r.InsertFinished(ctx, "late-1", repo.StatusDone, json.RawMessage(`1`))
	require.NoError(t, err)
	require.True(t, ok)
	res = recv(t, ch, time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, "1", string(res.payload))
}

func TestPollWakesOnOutsideCompletion(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	spy := &spyStore{Store: mem}
	r := newTestRoom(t, spy, fastCfg())
	ctx := context.Background()
	_, err := r.Register(ctx, "outside-1")
	require.NoError(t, err)
	ch1, ch2 := goWait(ctx, r, "outside-1"), goWait(ctx, r, "outside-1")
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == 2 })
	_, err = mem.Complete(ctx, "outside-1", json.RawMessage(`"x"`)) // behind the Room's back
	require.NoError(t, err)
	for _, ch := range []<-chan waitResult{ch1, ch2} {
		res := recv(t, ch, 2*time.Second)
		require.NoError(t, res.err)
		assert.Equal(t, `"x"`, string(res.payload))
	}
}

func TestTimeoutLeavesRowPending(t *testing.T) {
	t.Parallel()
	cfg := fastCfg()
	cfg.Timeout = 150 * time.Millisecond
	r := newTestRoom(t, newMemStore(), cfg)
	ctx := context.Background()
	id, p, err := r.Await(ctx, "slow-1")
	assert.Equal(t, "slow-1", id)
	assert.Nil(t, p)
	require.ErrorIs(t, err, ErrTimeout)
	pending, err := r.HasPending(ctx, "slow-1")
	require.NoError(t, err)
	assert.True(t, pending, "a timeout leaves the row PENDING")
	assert.Equal(t, 0, r.Waiters())

	// The result can be collected later.
	_, err = r.Complete(ctx, "slow-1", json.RawMessage(`"late"`))
	require.NoError(t, err)
	got, err := r.Wait(ctx, "slow-1")
	require.NoError(t, err)
	assert.Equal(t, `"late"`, string(got))
}

func TestContextDeadlineEarlierThanTimeout(t *testing.T) {
	t.Parallel()
	r := newTestRoom(t, newMemStore(), fastCfg())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := r.Wait(ctx, "ctx-1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestCancelRemovesOnlyThatWaiter(t *testing.T) {
	t.Parallel()
	r := newTestRoom(t, newMemStore(), fastCfg())
	bg := context.Background()
	_, err := r.Register(bg, "cancel-1")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg)
	chCancelled := goWait(ctx, r, "cancel-1")
	chKept := goWait(bg, r, "cancel-1")
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == 2 })
	cancel()
	res := recv(t, chCancelled, time.Second)
	require.ErrorIs(t, res.err, context.Canceled)
	assert.Equal(t, 1, r.Waiters())
	_, err = r.Complete(bg, "cancel-1", json.RawMessage(`2`))
	require.NoError(t, err)
	res = recv(t, chKept, time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, "2", string(res.payload))
}

func TestMaxWaitersFailsFast(t *testing.T) {
	t.Parallel()
	cfg := fastCfg()
	cfg.MaxWaiters = 2
	r := newTestRoom(t, newMemStore(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ch1, ch2 := goWait(ctx, r, "m-1"), goWait(ctx, r, "m-2")
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == 2 })
	start := time.Now()
	_, err := r.Wait(ctx, "m-3")
	require.ErrorIs(t, err, ErrTooManyWaiters)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	cancel()
	recv(t, ch1, time.Second)
	recv(t, ch2, time.Second)
}

// TestReservationsCountAgainstMaxWaiters: a reserved slot is taken before anything is waited
// on, a reservation's waits never fail for capacity, and its slot goes back to it, not to
// the pool, between its waits.
func TestReservationsCountAgainstMaxWaiters(t *testing.T) {
	t.Parallel()
	cfg := fastCfg()
	cfg.MaxWaiters = 2
	r := newTestRoom(t, newMemStore(), cfg)
	ctx := context.Background()
	a, err := r.Reserve()
	require.NoError(t, err)
	b, err := r.Reserve()
	require.NoError(t, err)
	_, err = r.Reserve()
	require.ErrorIs(t, err, ErrTooManyWaiters, "a third reservation overshoots")
	_, err = r.Wait(ctx, "plain")
	require.ErrorIs(t, err, ErrTooManyWaiters, "a plain wait cannot take a reserved slot")
	_, _, err = r.Await(ctx, "await")
	require.ErrorIs(t, err, ErrTooManyWaiters)

	// Both reservations wait at once; their waits end (one completed, one cancelled) and
	// their slots stay theirs.
	_, err = r.Register(ctx, "res-a")
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	chA := make(chan error, 1)
	go func() { _, err := a.Wait(ctx, "res-a"); chA <- err }()
	chB := make(chan error, 1)
	go func() { _, err := b.Wait(cctx, "res-b"); chB <- err }()
	eventually(t, 5*time.Second, "both reserved waits in progress", func() bool { return r.Waiters() == 2 })
	_, err = r.Complete(ctx, "res-a", json.RawMessage(`1`))
	require.NoError(t, err)
	cancel()
	require.NoError(t, <-chA)
	require.ErrorIs(t, <-chB, context.Canceled)
	assert.Equal(t, 0, r.Waiters())
	_, err = r.Wait(ctx, "plain")
	require.ErrorIs(t, err, ErrTooManyWaiters, "the slots went back to the reservations")

	// Released (twice: harmless), the slots are free again.
	a.Release()
	a.Release()
	b.Release()
	c, err := r.Reserve()
	require.NoError(t, err)
	d, err := r.Reserve()
	require.NoError(t, err)
	c.Release()
	d.Release()
}

func TestRegisterOnFinishedRowReturnsAtOnce(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	spy := &spyStore{Store: mem}
	cfg := fastCfg()
	cfg.PollInterval = time.Hour
	r := newTestRoom(t, spy, cfg)
	ctx := context.Background()
	ok, err := mem.InsertFinished(ctx, "done-1", repo.StatusError, json.RawMessage(`"boom"`))
	require.NoError(t, err)
	require.True(t, ok)

	id, err := r.Register(ctx, "done-1")
	require.NoError(t, err)
	_, err = r.Wait(ctx, id)
	var pe *ProcessError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, `"boom"`, string(pe.Body))

	_, err = mem.InsertFinished(ctx, "done-2", repo.StatusDone, json.RawMessage(`{}`))
	require.NoError(t, err)
	_, p, err := r.Await(ctx, "done-2")
	require.NoError(t, err)
	assert.Equal(t, `{}`, string(p))
	assert.Zero(t, spy.statuses.Load())
}

func TestNoQueriesWhileIdleAndConstantCostWhileBusy(t *testing.T) {
	t.Parallel()
	spy := &spyStore{Store: newMemStore()}
	cfg := fastCfg()
	cfg.PollInterval = 20 * time.Millisecond
	cfg.MaxWaiters = 5000
	r := newTestRoom(t, spy, cfg)

	// Idle: an observation window (not synchronisation): nothing may be queried during it.
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, spy.statuses.Load(), "no queries while nobody waits")

	ctx, cancel := context.WithCancel(context.Background())
	var chans []<-chan waitResult
	for i := range 3000 { // two chunks
		chans = append(chans, goWait(ctx, r, fmt.Sprintf("busy-%d", i)))
	}
	eventually(t, 10*time.Second, "waiters registered", func() bool { return r.Waiters() == 3000 })
	before, start := spy.statements.Load(), time.Now()
	time.Sleep(time.Second)
	perSec := float64(spy.statements.Load()-before) / time.Since(start).Seconds()
	// One statement per poll interval (50/s at 20 ms) however many wait, plus jitter.
	assert.LessOrEqual(t, perSec, 60.0)
	assert.GreaterOrEqual(t, perSec, 10.0)
	cancel()
	for _, ch := range chans {
		recv(t, ch, 5*time.Second)
	}
	eventually(t, 5*time.Second, "waiters gone", func() bool { return r.Waiters() == 0 })
}

func TestFailingDatabaseLoggedOncePerStreak(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	spy := &spyStore{Store: mem}
	core, logs := observer.New(zap.InfoLevel)
	r := newTestRoom(t, spy, fastCfg(), WithLogger(zap.New(core)))
	ctx := context.Background()
	spy.down.Store(true)
	_, err := mem.Create(ctx, "down-1")
	require.NoError(t, err)
	ch := goWait(ctx, r, "down-1")
	eventually(t, 5*time.Second, "several failed polls", func() bool { return spy.statuses.Load() >= 5 })
	_, err = mem.Complete(ctx, "down-1", json.RawMessage(`"back"`))
	require.NoError(t, err)
	select {
	case res := <-ch:
		t.Fatalf("woken while the database is down: %+v", res)
	default:
	}
	spy.down.Store(false)
	res := recv(t, ch, 2*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, `"back"`, string(res.payload))
	assert.Equal(t, 1, logs.FilterMessageSnippet("reading statuses failed").Len())
	assert.Equal(t, 1, logs.FilterMessageSnippet("reading statuses recovered").Len())
}

func TestStopWakesWaitersAndClearsOwnedWhenConfigured(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	cfg := fastCfg()
	cfg.ClearOnShutdown = true
	r, err := New(mem, cfg)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	ctx := context.Background()
	_, err = r.Register(ctx, "own-1")
	require.NoError(t, err)
	mem.rows["other-1"] = repo.Record{CorrelationID: "other-1", Status: repo.StatusPending, Owner: "other"}
	ch := goWait(ctx, r, "own-1")
	chUnowned := goWait(ctx, r, "other-1")
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == 2 })
	require.NoError(t, r.Stop(ctx))

	res := recv(t, ch, time.Second)
	var pe *ProcessError
	require.ErrorAs(t, res.err, &pe)
	assert.JSONEq(t, string(DefaultShutdownErrorBody), string(pe.Body))
	res = recv(t, chUnowned, time.Second)
	require.ErrorIs(t, res.err, ErrClosed)
	pending, err := r.HasPending(ctx, "other-1")
	require.NoError(t, err)
	assert.True(t, pending, "other replicas' waits are never cleared")
	_, err = r.Wait(ctx, "x")
	require.ErrorIs(t, err, ErrClosed)
}

func TestClearOwnedAndCounts(t *testing.T) {
	t.Parallel()
	mem := newMemStore()
	r := newTestRoom(t, mem, fastCfg())
	ctx := context.Background()
	for i := range 3 {
		_, err := r.Register(ctx, fmt.Sprintf("c-%d", i))
		require.NoError(t, err)
	}
	n, err := r.PendingCount(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
	ch := goWait(ctx, r, "c-0")
	eventually(t, 5*time.Second, "waiter registered", func() bool { return r.Waiters() == 1 })
	n, err = r.ClearOwned(ctx, json.RawMessage(`"cleared"`))
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
	res := recv(t, ch, time.Second)
	var pe *ProcessError
	require.ErrorAs(t, res.err, &pe)
	has, err := r.HasPending(ctx, "c-1")
	require.NoError(t, err)
	assert.False(t, has)
	has, err = r.HasPending(ctx, "nope")
	require.NoError(t, err)
	assert.False(t, has)
}

type countingMetrics struct {
	mu    sync.Mutex
	max   int
	wakes map[WakeSource]int
}

func (m *countingMetrics) SetWaiters(n int) {
	m.mu.Lock()
	m.max = max(m.max, n)
	m.mu.Unlock()
}

func (m *countingMetrics) ObserveWake(s WakeSource, _ time.Duration) {
	m.mu.Lock()
	m.wakes[s]++
	m.mu.Unlock()
}

func TestMetricsHooks(t *testing.T) {
	t.Parallel()
	m := &countingMetrics{wakes: map[WakeSource]int{}}
	r := newTestRoom(t, newMemStore(), fastCfg(), WithMetrics(m))
	ctx := context.Background()
	_, err := r.Register(ctx, "met-1")
	require.NoError(t, err)
	ch1, ch2 := goWait(ctx, r, "met-1"), goWait(ctx, r, "met-1")
	eventually(t, 5*time.Second, "waiters registered", func() bool { return r.Waiters() == 2 })
	_, err = r.Complete(ctx, "met-1", json.RawMessage(`0`))
	require.NoError(t, err)
	recv(t, ch1, time.Second)
	recv(t, ch2, time.Second)
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Equal(t, 2, m.max)
	assert.Equal(t, 2, m.wakes[WakeLocal])
}

func TestWaitRejectsEmptyID(t *testing.T) {
	t.Parallel()
	r := newTestRoom(t, newMemStore(), fastCfg())
	_, err := r.Wait(context.Background(), "")
	require.True(t, errors.Is(err, repo.ErrInvalidID))
}
