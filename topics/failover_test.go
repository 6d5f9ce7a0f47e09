package topics_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

// TestFailoverUnlocksADeadReplicasTasks: a replica locked three tasks and stopped beating. Of
// two live replicas, the one with the smaller worker id unlocks the dead one's tasks (and only
// those); the other unlocks nothing. A live replica's own task stays locked. Stopping a
// failover deletes its heartbeat row.
func TestFailoverUnlocksADeadReplicasTasks(t *testing.T) {
	t.Parallel()
	e := topicstest.Need(t, engine)
	key := unique(t)
	e.Deploy(t, key+".bpmn", topicstest.OneTaskProcess(key, key))
	for range 4 {
		e.StartProcess(t, key, nil)
	}
	ctx := context.Background()
	st, err := stores.Open(ctx, repo.Options{Driver: repo.DriverSQLite, DSN: "file:" + filepath.Join(t.TempDir(), "hb.db"), Owner: "test", Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	dead, a, b := "dead-"+key, "a-"+key, "b-"+key
	lock := func(worker string, n int) {
		t.Helper()
		var got []struct{ ID string }
		req := map[string]any{"workerId": worker, "maxTasks": n,
			"topics": []map[string]any{{"topicName": key, "lockDuration": 10 * time.Minute.Milliseconds()}}}
		require.NoError(t, e.Do(ctx, http.MethodPost, "/external-task/fetchAndLock", req, &got))
		require.Len(t, got, n)
	}
	lock(dead, 3)
	lock(b, 1)
	require.NoError(t, st.Beat(ctx, dead))

	fo := topics.FailoverOptions{HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 600 * time.Millisecond}
	ma, mb := &counters{}, &counters{}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range []struct {
		id string
		m  *counters
	}{{a, ma}, {b, mb}} {
		f, err := topics.NewFailover(camundaConfig(r.id), fo, storeBeats{st}, zaptest.NewLogger(t), topics.WithMetrics(r.m))
		require.NoError(t, err)
		wg.Go(func() { _ = f.Run(runCtx) })
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			wg.Wait()
		}
	})

	lockedBy := func(worker string) int {
		return len(e.ExternalTasks(t, url.Values{"topicName": {key}, "workerId": {worker}, "locked": {"true"}}))
	}
	topicstest.Eventually(t, 20*time.Second, func() bool { return lockedBy(dead) == 0 }, "the dead replica's tasks unlocked")
	require.Equal(t, 1, lockedBy(b), "a live replica's lock is left alone")
	require.Len(t, e.ExternalTasks(t, url.Values{"topicName": {key}, "notLocked": {"true"}}), 3)
	require.Equal(t, int64(3), ma.unlocked.Load(), "the live replica with the smallest id sweeps")
	require.Equal(t, int64(0), mb.unlocked.Load(), "the other one does not")

	stop()
	wg.Wait()
	stopped = true
	ws, err := st.Workers(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 1, "stopped replicas delete their rows; the dead one's stays until it is forgotten: %+v", ws)
	require.Equal(t, dead, ws[0].WorkerID)
}

// storeBeats adapts the store's heartbeat record to topics.Heartbeats, as the daemon does.
type storeBeats struct{ repo.Heartbeats }

func (h storeBeats) Workers(ctx context.Context) ([]topics.WorkerBeat, error) {
	ws, err := h.Heartbeats.Workers(ctx)
	out := make([]topics.WorkerBeat, len(ws))
	for i, w := range ws {
		out[i] = topics.WorkerBeat{WorkerID: w.WorkerID, Age: w.Age}
	}
	return out, err
}
