package topics_test

// Integration tests against a real engine, continued (see engine_test.go).

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

func TestTwoWorkersShareTheLoad(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	const n = 30
	var ids []string
	for range n {
		ids = append(ids, engine.StartProcess(t, key, nil))
	}
	sub := topicConfig(topic)
	sub.MaxTasks, sub.MaxParallel = 2, 2
	var mu sync.Mutex
	byTask := map[string][]string{}
	handler := func(worker string) topics.Handler {
		return topics.HandlerFunc(func(ctx context.Context, task *topics.Task) (topics.Complete, error) {
			mu.Lock()
			byTask[task.ID] = append(byTask[task.ID], worker)
			mu.Unlock()
			select {
			case <-time.After(50 * time.Millisecond): // the work
			case <-ctx.Done():
			}
			return topics.Complete{}, nil
		})
	}
	startWorker(t, camundaConfig(key+"-a"), []topics.Topic{sub}, map[string]topics.Handler{topic: handler("a")})
	startWorker(t, camundaConfig(key+"-b"), []topics.Topic{sub}, map[string]topics.Handler{topic: handler("b")})
	waitEnded(t, ids, 60*time.Second)
	mu.Lock()
	defer mu.Unlock()
	per := map[string]int{}
	assert.Len(t, byTask, n)
	for id, ws := range byTask {
		assert.Len(t, ws, 1, "task %s handled by %v", id, ws)
		per[ws[0]]++
	}
	assert.Positive(t, per["a"], "worker a took tasks: %v", per)
	assert.Positive(t, per["b"], "worker b took tasks: %v", per)
}

func TestShutdownUnderLoadLeavesNothingLocked(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	const n = 12
	var ids []string
	for range n {
		ids = append(ids, engine.StartProcess(t, key, nil))
	}
	sub := topicConfig(topic)
	sub.MaxTasks, sub.MaxParallel = 3, 3
	cam := camundaConfig(key + "-w")
	cam.ShutdownTimeout = 500 * time.Millisecond
	var started, finished atomic.Int64
	w := startWorker(t, cam, []topics.Topic{sub}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(ctx context.Context, _ *topics.Task) (topics.Complete, error) {
			// Half the handlers outlive the shutdown timeout and are cancelled.
			d := 100 * time.Millisecond
			if started.Add(1)%2 == 0 {
				d = 10 * time.Second
			}
			select {
			case <-time.After(d):
				finished.Add(1)
				return topics.Complete{}, nil
			case <-ctx.Done():
				return topics.Complete{}, ctx.Err()
			}
		}),
	})
	topicstest.Eventually(t, 30*time.Second, func() bool { return started.Load() >= 6 }, "handlers did not start")
	w.stop(t)
	locked := engine.ExternalTasks(t, url.Values{"workerId": {cam.WorkerID}, "locked": {"true"}})
	assert.Empty(t, locked, "tasks still locked by the stopped worker")
	assert.Positive(t, w.m.unlocked.Load(), "cancelled handlers' tasks were unlocked")

	// Another worker finishes the rest at once (no lock to wait out).
	startWorker(t, camundaConfig(key+"-w2"), []topics.Topic{sub}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) { return topics.Complete{}, nil }),
	})
	waitEnded(t, ids, 30*time.Second)
}

// TestStopLeavesNoGhostPoll: after Run returns, no long poll of the stopped worker is left
// queued in the engine to lock new tasks for it (they would wait out lockDuration, 10s here).
func TestStopLeavesNoGhostPoll(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	sub := topicConfig(topic)
	done := topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) { return topics.Complete{}, nil })
	w1 := startWorker(t, camundaConfig(key+"-w1"), []topics.Topic{sub}, map[string]topics.Handler{topic: done})
	topicstest.Eventually(t, 10*time.Second, func() bool { return w1.rt.Ready() == nil }, "worker not ready")
	w1.stop(t)

	id := engine.StartProcess(t, key, nil)
	startWorker(t, camundaConfig(key+"-w2"), []topics.Topic{sub}, map[string]topics.Handler{topic: done})
	waitEnded(t, []string{id}, 5*time.Second)
}

// steal unlocks a task and locks it for another worker, as if our lock had expired and
// another replica fetched it.
func steal(t *testing.T, topic, taskID string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, engine.Do(ctx, "POST", "/external-task/"+taskID+"/unlock", nil, nil))
	var got []struct {
		ID string `json:"id"`
	}
	require.NoError(t, engine.Do(ctx, "POST", "/external-task/fetchAndLock", map[string]any{
		"workerId": "thief", "maxTasks": 1,
		"topics": []map[string]any{{"topicName": topic, "lockDuration": 60000}},
	}, &got))
	require.Len(t, got, 1)
	require.Equal(t, taskID, got[0].ID)
}

// TestLockLost: another worker holds the task now. An extension answered 400 cancels the
// handler's context with ErrLockLost; a completion answered 400 is dropped. Neither is
// retried or counted as a success.
func TestLockLost(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	for _, tc := range []struct {
		name string
		lock time.Duration
	}{
		{"extension refused", 2 * time.Second},   // extension after 1s hits the thief's lock
		{"completion refused", 20 * time.Second}, // no extension before the handler returns
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, topic := deploy(t)
			id := engine.StartProcess(t, key, nil)
			sub := topicConfig(topic)
			sub.LockDuration = tc.lock
			sub.MaxTasks, sub.MaxParallel = 1, 1 // no poll of ours while the handler runs
			started := make(chan string, 1)
			release := make(chan struct{})
			var cause atomic.Value
			w := startWorker(t, camundaConfig(key+"-w"), []topics.Topic{sub}, map[string]topics.Handler{
				topic: topics.HandlerFunc(func(ctx context.Context, task *topics.Task) (topics.Complete, error) {
					started <- task.ID
					select {
					case <-ctx.Done():
						cause.Store(context.Cause(ctx))
						return topics.Complete{}, ctx.Err()
					case <-release:
						return topics.Complete{}, nil
					}
				}),
			})
			var taskID string
			select {
			case taskID = <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("handler did not start")
			}
			steal(t, topic, taskID)
			if tc.lock < 10*time.Second {
				topicstest.Eventually(t, 10*time.Second, func() bool { return cause.Load() != nil }, "handler context not cancelled")
				assert.ErrorIs(t, cause.Load().(error), topics.ErrLockLost)
			} else {
				close(release)
			}
			topicstest.Eventually(t, 10*time.Second, func() bool { return w.m.lockLost.Load() == 1 }, "lock loss not counted")
			assert.Zero(t, w.m.completed.Load()+w.m.failed.Load())
			tasks := engine.ExternalTasks(t, url.Values{"processInstanceId": {id}})
			require.Len(t, tasks, 1)
			require.NotNil(t, tasks[0].WorkerID)
			assert.Equal(t, "thief", *tasks[0].WorkerID, "the thief's lock stands")
			assert.Nil(t, tasks[0].Retries, "no failure was reported")
		})
	}
}
