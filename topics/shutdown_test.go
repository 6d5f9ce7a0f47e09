package topics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// hangingEngine answers the first fetchAndLock with tasks, then hangs every call but
// GET /version until the test ends: an engine that stopped answering mid-run. It is an
// httptest server, not the real engine, because what is tested is our own bound on the stop,
// whatever the engine does; a real hung engine is tested in the HTTP API's end-to-end tests.
type hangingEngine struct {
	srv     *httptest.Server
	release chan struct{}
	fetched atomic.Bool

	mu          sync.Mutex
	unlocks     int // in flight
	maxUnlocks  int
	unlockCalls int
}

func newHangingEngine(t *testing.T, topic string, tasks int) *hangingEngine {
	h := &hangingEngine{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/version":
			_, _ = w.Write([]byte(`{"version":"7.24.0"}`))
			return
		case r.URL.Path == "/external-task/fetchAndLock" && h.fetched.CompareAndSwap(false, true):
			var out []map[string]any
			for i := range tasks {
				out = append(out, map[string]any{"id": fmt.Sprintf("task-%d", i), "topicName": topic, "workerId": "w"})
			}
			_ = json.NewEncoder(w).Encode(out)
			return
		case strings.HasSuffix(r.URL.Path, "/unlock"):
			h.mu.Lock()
			h.unlocks++
			h.unlockCalls++
			h.maxUnlocks = max(h.maxUnlocks, h.unlocks)
			h.mu.Unlock()
			defer func() {
				h.mu.Lock()
				h.unlocks--
				h.mu.Unlock()
			}()
		}
		select { // hang
		case <-r.Context().Done():
		case <-h.release:
		}
	}))
	t.Cleanup(func() {
		close(h.release)
		h.srv.Close()
	})
	return h
}

func (h *hangingEngine) unlockStats() (inFlight, maxInFlight, calls int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unlocks, h.maxUnlocks, h.unlockCalls
}

// TestShutdownWithHangingEngineKeepsItsDeadline: the engine hangs while tasks are fetched,
// handlers run and surplus tasks are being unlocked. The stop must end within
// shutdownTimeout + 2 s (it used to take 60 s: unlocks ran one at a time, each on a fresh
// context with the full request timeout), and unlocks must run in parallel, bounded.
func TestShutdownWithHangingEngineKeepsItsDeadline(t *testing.T) {
	t.Parallel()
	const topic, maxTasks, surplus = "hang", 10, 10
	eng := newHangingEngine(t, topic, maxTasks+surplus)
	cam := Options{
		Engine: camunda.Config{URL: eng.srv.URL}, WorkerID: "w",
		AsyncResponseTimeout: time.Second, RequestTimeout: 30 * time.Second, // a call alone outlasts the stop
		PollBackoff:     Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
		ShutdownTimeout: 2 * time.Second, LockExtensionFraction: 0.5,
	}
	sub := Topic{Name: topic, Handler: topic, LockDuration: time.Minute, MaxTasks: maxTasks, MaxParallel: maxTasks,
		Retries: 3, RetryBackoff: Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}
	var running atomic.Int64
	reg := NewRegistry()
	reg.Register(topic, func(Topic, Deps) (Handler, error) {
		return HandlerFunc(func(ctx context.Context, _ *Task) (Complete, error) {
			running.Add(1)
			defer running.Add(-1)
			<-ctx.Done() // a long handler: runs until the shutdown deadline cancels it
			return Complete{}, ctx.Err()
		}), nil
	})
	rt, err := New(cam, []Topic{sub}, reg, Deps{}, zaptest.NewLogger(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()

	// Ten handlers run; the ten surplus tasks are being unlocked, eight at a time, and the
	// engine does not answer.
	deadline := time.Now().Add(20 * time.Second)
	for {
		inFlight, _, _ := eng.unlockStats()
		if running.Load() == maxTasks && inFlight == unlockParallelism {
			break
		}
		require.True(t, time.Now().Before(deadline), "handlers %d, unlocks in flight %d", running.Load(), inFlight)
		<-time.After(20 * time.Millisecond)
	}

	_, maxInFlight, _ := eng.unlockStats()
	require.Equal(t, unlockParallelism, maxInFlight, "unlocks run in parallel, at most unlockParallelism at once")

	began := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(cam.ShutdownTimeout + 10*time.Second):
		t.Fatal("Run did not return")
	}
	took := time.Since(began)
	t.Logf("stopped %s after the cancel (shutdownTimeout %s)", took.Round(time.Millisecond), cam.ShutdownTimeout)
	require.Less(t, took, cam.ShutdownTimeout+2*time.Second)
	_, _, calls := eng.unlockStats()
	require.GreaterOrEqual(t, calls, unlockParallelism+maxTasks, "the cancelled handlers' tasks were unlocked too, within the stop")
	require.Zero(t, running.Load())
}
