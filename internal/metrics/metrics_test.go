package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/breaker"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

func TestRuntimeAndWaitroomHooksLandOnTheRegistry(t *testing.T) {
	m := New()
	m.TasksFetched("a", 3)
	m.TaskCompleted("a")
	m.TaskFailed("a")
	m.TaskBPMNError("b")
	m.LockLost("a")
	m.LockExtended("a")
	m.FetchError()
	m.ReportError("a", "complete")
	m.HandlerDuration("a", 20*time.Millisecond)
	m.SetWaiters(7)
	m.ObserveWake(waitroom.WakeNotify, 3*time.Millisecond)

	require.Equal(t, 3.0, testutil.ToFloat64(m.fetched.WithLabelValues("a")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.completed.WithLabelValues("a")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.bpmnErrors.WithLabelValues("b")))
	require.Equal(t, 7.0, testutil.ToFloat64(m.waiters))
	require.Equal(t, 1.0, testutil.ToFloat64(m.fetchErrors))

	want := `
# HELP camunda_waitroom_tasks_lock_lost_total Tasks whose lock another worker took or that expired, by topic.
# TYPE camunda_waitroom_tasks_lock_lost_total counter
camunda_waitroom_tasks_lock_lost_total{topic="a"} 1
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "camunda_waitroom_tasks_lock_lost_total"))
	n, err := testutil.GatherAndCount(m.Registry, "camunda_waitroom_wake_latency_seconds", "camunda_waitroom_handler_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestInitSeriesExportsZerosForKnownLabels(t *testing.T) {
	m := New()
	m.InitSeries([]string{"a", "b"})

	// Every series is there before any event, at zero.
	want := `
# HELP camunda_waitroom_tasks_failed_total External task failures reported to the engine, by topic.
# TYPE camunda_waitroom_tasks_failed_total counter
camunda_waitroom_tasks_failed_total{topic="a"} 0
camunda_waitroom_tasks_failed_total{topic="b"} 0
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "camunda_waitroom_tasks_failed_total"))
	for name, n := range map[string]int{
		"camunda_waitroom_tasks_fetched_total":      2,
		"camunda_waitroom_tasks_lock_lost_total":    2,
		"camunda_waitroom_handler_panics_total":     2,
		"camunda_waitroom_handler_duration_seconds": 2,
		"camunda_waitroom_report_errors_total":      2 * len(reportOps),
		"camunda_waitroom_wake_latency_seconds":     3,
		"camunda_waitroom_store_calls_total":        len(storeOps),
		"camunda_waitroom_store_errors_total":       len(storeOps),
		"camunda_waitroom_store_duration_seconds":   len(storeOps),
	} {
		got, err := testutil.GatherAndCount(m.Registry, name)
		require.NoError(t, err)
		require.Equal(t, n, got, name)
	}
	require.Equal(t, 0.0, testutil.ToFloat64(m.reportErrors.WithLabelValues("b", "unlock")))

	// Events land on the same series.
	m.TaskFailed("a")
	m.ReportError("b", "bpmnError")
	require.Equal(t, 1.0, testutil.ToFloat64(m.failed.WithLabelValues("a")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.reportErrors.WithLabelValues("b", "bpmnError")))
	n, err := testutil.GatherAndCount(m.Registry, "camunda_waitroom_report_errors_total")
	require.NoError(t, err)
	require.Equal(t, 2*len(reportOps), n, "bpmnError is one of reportOps: no new series")
}

// TestStoreOpsAreTheLabelsTheStoreReports: a store call lands on a series InitSeries created.
func TestStoreOpsAreTheLabelsTheStoreReports(t *testing.T) {
	m := New()
	m.InitSeries(nil)
	s := repo.Wrap(downStore{}, m.InterceptStore)
	require.Error(t, s.Ping(context.Background()))
	n, err := testutil.GatherAndCount(m.Registry, "camunda_waitroom_store_errors_total")
	require.NoError(t, err)
	require.Equal(t, len(storeOps), n, "ping is one of storeOps")
	require.Equal(t, 1.0, testutil.ToFloat64(m.storeErrors.WithLabelValues(repo.OpPing)))
}

// downStore is a process_store whose database is unreachable.
type downStore struct{ repo.Store }

func (downStore) Ping(context.Context) error {
	return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
}

func TestBreakerStateAndCounters(t *testing.T) {
	m := New()
	b := breaker.New(breaker.Settings{Failures: 2, OpenFor: time.Hour}, zap.NewNop())
	s := repo.Wrap(downStore{}, b.Intercept, m.InterceptStore)
	m.WatchBreaker(b)
	names := []string{"camunda_waitroom_store_breaker_state", "camunda_waitroom_store_breaker_opens_total", "camunda_waitroom_store_breaker_rejected_total"}
	closed := `
# HELP camunda_waitroom_store_breaker_opens_total Times the process_store circuit breaker opened (after consecutive database failures, or a failed trial call).
# TYPE camunda_waitroom_store_breaker_opens_total counter
camunda_waitroom_store_breaker_opens_total 0
# HELP camunda_waitroom_store_breaker_rejected_total Store calls refused by the open circuit breaker, never sent to the database (not in store_calls_total).
# TYPE camunda_waitroom_store_breaker_rejected_total counter
camunda_waitroom_store_breaker_rejected_total 0
# HELP camunda_waitroom_store_breaker_state State of the process_store circuit breaker: 0 closed, 1 half-open (one trial call), 2 open (store calls refused).
# TYPE camunda_waitroom_store_breaker_state gauge
camunda_waitroom_store_breaker_state 0
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(closed), names...))

	ctx := context.Background()
	for range 2 {
		require.NotErrorIs(t, s.Ping(ctx), breaker.ErrOpen)
	}
	for range 3 {
		require.ErrorIs(t, s.Ping(ctx), breaker.ErrOpen)
	}
	// The refused calls never reached the store, and metrics (inside the breaker) never saw
	// them.
	require.Equal(t, 2.0, testutil.ToFloat64(m.storeCalls.WithLabelValues(repo.OpPing)))
	open := strings.NewReplacer("opens_total 0", "opens_total 1", "rejected_total 0", "rejected_total 3", "breaker_state 0", "breaker_state 2").Replace(closed)
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(open), names...))
}
