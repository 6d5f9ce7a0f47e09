package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

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
