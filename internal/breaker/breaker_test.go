package breaker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
)

// wrap returns a breaker with set and store behind it (repo.Wrap), as the daemon builds them.
func wrap(store repo.Store, set Settings) (*Breaker, repo.Store) {
	b := New(set, zap.NewNop())
	return b, repo.Wrap(store, b.Intercept)
}

// flaky is a real SQLite store whose Find fails while down is set, as a dead database would,
// and which counts the calls that reach it.
type flaky struct {
	repo.Store
	down  atomic.Bool
	calls atomic.Int64
}

var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (f *flaky) Ping(ctx context.Context) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return f.Store.Ping(ctx)
}

func (f *flaky) Find(ctx context.Context, id string) (repo.Record, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return repo.Record{}, errDown
	}
	return f.Store.Find(ctx, id)
}

func newFlaky(t *testing.T) *flaky {
	t.Helper()
	s, err := stores.Open(context.Background(), repo.Options{
		Driver: repo.DriverSQLite, DSN: "file:" + filepath.Join(t.TempDir(), "b.db"), Owner: "breaker-test", Migrate: true,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return &flaky{Store: s}
}

func TestBreakerOpensStopsCallsAndRecovers(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(t)
	b, s := wrap(f, Settings{Failures: 3, OpenFor: 200 * time.Millisecond})
	_, err := s.Create(ctx, "row-1")
	require.NoError(t, err)

	// Caller mistakes and missing rows never trip the circuit.
	for i := 0; i < 10; i++ {
		_, err := s.Find(ctx, "bad id!")
		require.ErrorIs(t, err, repo.ErrInvalidID)
		_, err = s.Find(ctx, "no-such-row")
		require.ErrorIs(t, err, repo.ErrNotFound)
	}
	require.NoError(t, b.Check(ctx, s))
	require.Equal(t, Stats{State: Closed}, b.Stats(), "caller mistakes neither open the circuit nor count as refusals")

	f.down.Store(true)
	f.calls.Store(0)
	for i := 0; i < 3; i++ {
		_, err := s.Find(ctx, "row-1")
		require.ErrorIs(t, err, errDown)
	}
	for i := 0; i < 20; i++ {
		_, err := s.Find(ctx, "row-1")
		require.ErrorIs(t, err, ErrOpen)
	}
	require.EqualValues(t, 3, f.calls.Load(), "an open circuit must not send calls to the database")
	require.ErrorContains(t, b.Check(ctx, s), "open")
	require.ErrorContains(t, b.Check(ctx, s), "connection refused")
	// The two checks ping through the open circuit, so they are refused too.
	require.Equal(t, Stats{State: Open, Opens: 1, Rejected: 22}, b.Stats())

	// The database comes back: after OpenFor a trial call goes through and closes the circuit.
	f.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Find(ctx, "row-1")
		if err == nil {
			break
		}
		require.ErrorIs(t, err, ErrOpen)
		require.True(t, time.Now().Before(deadline), "circuit did not close after the database came back")
		<-time.After(20 * time.Millisecond)
	}
	require.NoError(t, b.Check(ctx, s))
	st := b.Stats()
	require.Equal(t, Closed, st.State)
	require.EqualValues(t, 1, st.Opens, "the trial call succeeded: the circuit did not open again")
	require.GreaterOrEqual(t, st.Rejected, uint64(20))
}

// TestStatsFollowTheCircuit walks closed, open, half-open, open again after a failed trial,
// and closed: the state gauge and the counters the metrics read.
func TestStatsFollowTheCircuit(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(t)
	b, s := wrap(f, Settings{Failures: 2, OpenFor: 100 * time.Millisecond})
	_, err := s.Create(ctx, "row-1")
	require.NoError(t, err)
	f.down.Store(true)
	for range 2 {
		_, err := s.Find(ctx, "row-1")
		require.ErrorIs(t, err, errDown)
	}
	require.Equal(t, Stats{State: Open, Opens: 1}, b.Stats())
	_, err = s.Find(ctx, "row-1")
	require.ErrorIs(t, err, ErrOpen)
	require.EqualValues(t, 1, b.Stats().Rejected)

	// After OpenFor the state reads half-open, before any call.
	waitState(t, b, HalfOpen)
	// The trial call fails: open again, a second opening.
	_, err = s.Find(ctx, "row-1")
	require.ErrorIs(t, err, errDown)
	require.Equal(t, Stats{State: Open, Opens: 2, Rejected: 1}, b.Stats())

	f.down.Store(false)
	waitState(t, b, HalfOpen)
	_, err = s.Find(ctx, "row-1")
	require.NoError(t, err)
	require.Equal(t, Stats{State: Closed, Opens: 2, Rejected: 1}, b.Stats())
	require.Equal(t, "half-open", HalfOpen.String())
}

func waitState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().State != want {
		require.True(t, time.Now().Before(deadline), "the circuit did not become %s; stats %+v", want, b.Stats())
		<-time.After(10 * time.Millisecond)
	}
}

// conflicting answers every Create with ErrIDConflict, as the SQL Server store does for an id
// whose key a case variant holds.
type conflicting struct {
	repo.Store
	calls atomic.Int64
}

func (c *conflicting) Create(context.Context, string) (repo.Record, error) {
	c.calls.Add(1)
	return repo.Record{}, fmt.Errorf("create ABC: %w", repo.ErrIDConflict)
}

// Ping answers the readiness check, which pings through the breaker.
func (c *conflicting) Ping(context.Context) error { return nil }

// TestIDConflictDoesNotTrip: an id conflict is the caller's problem, not the database's.
func TestIDConflictDoesNotTrip(t *testing.T) {
	c := &conflicting{}
	b, s := wrap(c, Settings{Failures: 2, OpenFor: time.Hour})
	for i := 0; i < 10; i++ {
		_, err := s.Create(context.Background(), "ABC")
		require.ErrorIs(t, err, repo.ErrIDConflict)
	}
	require.EqualValues(t, 10, c.calls.Load())
	require.NoError(t, b.Check(context.Background(), s))
}

// TestReadinessAloneClosesTheCircuit: a replica taken out of traffic gets no store calls but
// /readyz's. Once the database is back, the check itself must make the half-open trial call,
// so the replica is ready again within OpenFor plus one check.
func TestReadinessAloneClosesTheCircuit(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(t)
	const openFor = 300 * time.Millisecond
	b, s := wrap(f, Settings{Failures: 2, OpenFor: openFor})

	f.down.Store(true)
	for i := 0; i < 2; i++ {
		require.ErrorIs(t, b.Check(ctx, s), errDown)
	}
	err := b.Check(ctx, s)
	require.ErrorContains(t, err, "circuit open")
	require.ErrorContains(t, err, "connection refused")

	// Still down when the first trial comes: the trial fails and the circuit opens again.
	poll(t, 5*time.Second, func() bool {
		err := b.Check(ctx, s)
		return err != nil && !errors.Is(err, ErrOpen) && errors.Is(err, errDown)
	}, "a half-open trial reaches the database")
	require.ErrorContains(t, b.Check(ctx, s), "circuit open")

	// The database recovers; only readiness checks run, one every 50ms.
	f.down.Store(false)
	recovered := time.Now()
	poll(t, 5*time.Second, func() bool { return b.Check(ctx, s) == nil }, "ready again after the database recovered")
	took := time.Since(recovered)
	t.Logf("ready %s after the database recovered (breakerOpenFor %s)", took.Round(time.Millisecond), openFor)
	require.Less(t, took, openFor+time.Second, "within breakerOpenFor plus one check (with scheduling slack)")
	_, err = s.Find(ctx, "no-such-row")
	require.ErrorIs(t, err, repo.ErrNotFound, "the circuit is closed: calls reach the database")
}

// poll polls cond every 50ms until it holds, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "%s: not within %s", what, timeout)
		<-time.After(50 * time.Millisecond)
	}
}
