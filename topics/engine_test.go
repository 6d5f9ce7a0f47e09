package topics_test

// Integration tests against a real engine, Camunda 7.24 or Operaton as WAITROOM_TEST_ENGINE
// says (topicstest starts one per package, or uses WAITROOM_TEST_CAMUNDA_URL). Each test
// deploys its own process with its own topic, so tests share the engine; only
// TestEngineRestart is not parallel (it restarts the engine, and parallel tests wait until
// sequential ones are done).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

var engine *topicstest.Engine

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperWorker())
	}
	code := topicstest.Main(m, &engine)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// counters is a Metrics that counts what the tests look at.
type counters struct {
	topics.NopMetrics
	fetched, completed, failed, bpmn, unlocked, lockLost, extended, panics, fetchErrors atomic.Int64
}

func (c *counters) TasksFetched(_ string, n int) { c.fetched.Add(int64(n)) }
func (c *counters) TaskCompleted(string)         { c.completed.Add(1) }
func (c *counters) TaskFailed(string)            { c.failed.Add(1) }
func (c *counters) TaskBPMNError(string)         { c.bpmn.Add(1) }
func (c *counters) TaskUnlocked(string)          { c.unlocked.Add(1) }
func (c *counters) LockLost(string)              { c.lockLost.Add(1) }
func (c *counters) LockExtended(string)          { c.extended.Add(1) }
func (c *counters) HandlerPanic(string)          { c.panics.Add(1) }
func (c *counters) FetchError()                  { c.fetchErrors.Add(1) }

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// unique is a process key (and topic) unique to this test run.
func unique(t *testing.T) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "p-" + strings.Trim(nonWord.ReplaceAllString(t.Name(), "-"), "-") + "-" + hex.EncodeToString(b[:])
}

func camundaConfig(workerID string) topics.Options {
	return topics.Options{
		Engine: camunda.Config{URL: engine.URL}, WorkerID: workerID,
		AsyncResponseTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second,
		PollBackoff:     topics.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
		ShutdownTimeout: 5 * time.Second, LockExtensionFraction: 0.5,
	}
}

func topicConfig(name string) topics.Topic {
	return topics.Topic{
		Name: name, Handler: name, LockDuration: 10 * time.Second, MaxTasks: 5, MaxParallel: 5,
		Retries: 3, RetryBackoff: topics.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
	}
}

// worker is a running Runtime.
type worker struct {
	rt      *topics.Runtime
	m       *counters
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// startWorker runs a Runtime with one handler per topic until the test ends (or stop).
func startWorker(t *testing.T, cam topics.Options, subs []topics.Topic, handlers map[string]topics.Handler) *worker {
	t.Helper()
	reg := topics.NewRegistry()
	for name, h := range handlers {
		reg.Register(name, func(topics.Topic, topics.Deps) (topics.Handler, error) { return h, nil })
	}
	m := &counters{}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	rt, err := topics.New(cam, subs, reg, topics.Deps{}, log, topics.WithMetrics(m))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{rt: rt, m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- rt.Run(ctx) }()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// stop cancels Run and waits for it to return nil.
func (w *worker) stop(t *testing.T) {
	t.Helper()
	if w.stopped {
		return
	}
	w.stopped = true
	w.cancel()
	select {
	case err := <-w.done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
}

func waitEnded(t *testing.T, ids []string, timeout time.Duration) {
	t.Helper()
	topicstest.Eventually(t, timeout, func() bool {
		for _, id := range ids {
			if !engine.Ended(t, id) {
				return false
			}
		}
		return true
	}, "not all of %d instances ended", len(ids))
}

func deploy(t *testing.T) (key, topic string) {
	t.Helper()
	key = unique(t)
	topic = key + "/work"
	engine.Deploy(t, key+".bpmn", topicstest.OneTaskProcess(key, topic))
	return key, topic
}

func TestCompleteWithVariables(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	var ids []string
	for i := range 6 {
		ids = append(ids, engine.StartProcess(t, key, topics.Variables{"n": topics.LongVar(int64(i)), "name": topics.StringVar(fmt.Sprint("user", i))}))
	}
	sub := topicConfig(topic)
	sub.Variables = []string{"n", "name"}
	var seen sync.Map
	w := startWorker(t, camundaConfig(key+"-w"), []topics.Topic{sub}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(_ context.Context, task *topics.Task) (topics.Complete, error) {
			name, _ := task.String("name")
			seen.Store(task.ID, task.ProcessInstanceID)
			out, err := topics.JSONVar(map[string]string{"greeting": "hello " + name})
			if err != nil {
				return topics.Complete{}, err
			}
			return topics.Complete{Variables: topics.Variables{"out": out}}, nil
		}),
	})
	waitEnded(t, ids, 30*time.Second)
	v := engine.Variable(t, ids[3], "out")
	require.NotNil(t, v)
	assert.Equal(t, "Json", v.Type)
	doc, err := v.JSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"greeting":"hello user3"}`, string(doc))
	assert.Equal(t, int64(6), w.m.completed.Load())
	assert.NoError(t, w.rt.Ready())
}

func TestFailTwiceThenSucceed(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	id := engine.StartProcess(t, key, nil)
	var mu sync.Mutex
	var seen []string // task.Retries as each attempt saw it
	startWorker(t, camundaConfig(key+"-w"), []topics.Topic{topicConfig(topic)}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(_ context.Context, task *topics.Task) (topics.Complete, error) {
			mu.Lock()
			defer mu.Unlock()
			if task.Retries == nil {
				seen = append(seen, "nil")
			} else {
				seen = append(seen, fmt.Sprint(*task.Retries))
			}
			if len(seen) <= 2 {
				return topics.Complete{}, fmt.Errorf("transient %d", len(seen))
			}
			return topics.Complete{}, nil
		}),
	})
	waitEnded(t, []string{id}, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"nil", "2", "1"}, seen, "the engine shows retries 2, then 1")
	assert.Empty(t, engine.Incidents(t, id))
}

func TestRetriesExhaustedRaisesIncident(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	id := engine.StartProcess(t, key, nil)
	sub := topicConfig(topic)
	sub.Retries = 2
	var attempts atomic.Int64
	w := startWorker(t, camundaConfig(key+"-w"), []topics.Topic{sub}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) {
			attempts.Add(1)
			return topics.Complete{}, errors.New("payment service answered 503: try later")
		}),
	})
	var inc []topicstest.Incident
	topicstest.Eventually(t, 30*time.Second, func() bool {
		inc = engine.Incidents(t, id)
		return len(inc) > 0
	}, "no incident")
	assert.Equal(t, "failedExternalTask", inc[0].IncidentType)
	assert.Contains(t, inc[0].IncidentMessage, "payment service answered 503")
	assert.Equal(t, int64(2), attempts.Load())
	topicstest.Eventually(t, 5*time.Second, func() bool { return w.m.failed.Load() == 2 }, "2 failures reported, got %d", w.m.failed.Load())
	tasks := engine.ExternalTasks(t, url.Values{"processInstanceId": {id}})
	require.Len(t, tasks, 1)
	require.NotNil(t, tasks[0].Retries)
	assert.Equal(t, 0, *tasks[0].Retries)
	assert.Contains(t, engine.ErrorDetails(t, tasks[0].ID), "payment service answered 503")
}

func TestPanicIsFailureWithRetries(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	id := engine.StartProcess(t, key, nil)
	var second atomic.Value
	var n atomic.Int64
	w := startWorker(t, camundaConfig(key+"-w"), []topics.Topic{topicConfig(topic)}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(_ context.Context, task *topics.Task) (topics.Complete, error) {
			if n.Add(1) == 1 {
				var m map[string]int
				//lint:ignore SA5000 the test wants a runtime panic, not a panic() call
				m["boom"]++
			}
			if task.Retries != nil {
				second.Store(*task.Retries)
			}
			return topics.Complete{}, nil
		}),
	})
	waitEnded(t, []string{id}, 30*time.Second)
	assert.Equal(t, 2, second.Load(), "the panic was a failure with retries 3-1")
	assert.Empty(t, engine.Incidents(t, id))
	assert.Equal(t, int64(1), w.m.panics.Load())
}

func TestLockExtendedForSlowHandler(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	id := engine.StartProcess(t, key, nil)
	sub := topicConfig(topic)
	sub.LockDuration = 2 * time.Second
	var handled atomic.Int64
	var cancelled atomic.Bool
	slow := topics.HandlerFunc(func(ctx context.Context, _ *topics.Task) (topics.Complete, error) {
		handled.Add(1)
		select {
		case <-time.After(5 * time.Second): // the work: longer than the lock
		case <-ctx.Done():
			cancelled.Store(true)
			return topics.Complete{}, ctx.Err()
		}
		return topics.Complete{}, nil
	})
	w1 := startWorker(t, camundaConfig(key+"-w1"), []topics.Topic{sub}, map[string]topics.Handler{topic: slow})
	// A second worker would take the task if the lock ran out.
	w2 := startWorker(t, camundaConfig(key+"-w2"), []topics.Topic{sub}, map[string]topics.Handler{topic: slow})
	waitEnded(t, []string{id}, 30*time.Second)
	assert.Equal(t, int64(1), handled.Load(), "handled once: the lock held")
	assert.False(t, cancelled.Load())
	assert.GreaterOrEqual(t, w1.m.extended.Load()+w2.m.extended.Load(), int64(3), "extended about every second for 5s")
	assert.Zero(t, w1.m.lockLost.Load()+w2.m.lockLost.Load())
}

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

func TestReadyAndUnknownHandler(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	_, err := topics.New(camundaConfig("x"), []topics.Topic{topicConfig("a")}, topics.NewRegistry(), topics.Deps{}, nil)
	assert.ErrorIs(t, err, topics.ErrUnknownHandler)

	cam := camundaConfig("ready-w")
	cam.Engine.URL = "http://127.0.0.1:1/engine-rest" // nothing listens
	w := startWorker(t, cam, []topics.Topic{topicConfig("ready-topic")}, map[string]topics.Handler{
		"ready-topic": topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) { return topics.Complete{}, nil }),
	})
	topicstest.Eventually(t, 10*time.Second, func() bool { return w.m.fetchErrors.Load() >= 3 }, "no poll errors")
	err = w.rt.Ready()
	require.ErrorIs(t, err, topics.ErrNotReady)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
}

// The runtime reads the engine's version when it first reaches it, whatever its numbering.
func TestEngineVersion(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	w := startWorker(t, camundaConfig("version-w"), []topics.Topic{topicConfig("version-topic")}, map[string]topics.Handler{
		"version-topic": topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) { return topics.Complete{}, nil }),
	})
	topicstest.Eventually(t, 30*time.Second, func() bool { return w.rt.Ready() == nil }, "worker not ready: %v", w.rt.Ready())
	want, err := engine.Version(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, want)
	assert.Equal(t, want, w.rt.EngineVersion())
}

// TestEngineRestart stops the engine under a running worker and starts it again: the worker
// reports not ready meanwhile, recovers by itself and works new tasks. Not parallel: it
// restarts the shared engine while no other test runs.
func TestEngineRestart(t *testing.T) {
	topicstest.Need(t, engine)
	if engine.External {
		t.Skip("needs an engine this test can restart")
	}
	key, topic := deploy(t)
	var handled atomic.Int64
	w := startWorker(t, camundaConfig(key+"-w"), []topics.Topic{topicConfig(topic)}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) {
			handled.Add(1)
			return topics.Complete{}, nil
		}),
	})
	waitEnded(t, []string{engine.StartProcess(t, key, nil)}, 30*time.Second)
	require.NoError(t, w.rt.Ready())

	engine.Kill(t)
	topicstest.Eventually(t, 20*time.Second, func() bool { return w.rt.Ready() != nil }, "worker still ready with the engine down")
	engine.StartAgain(t)
	topicstest.Eventually(t, 20*time.Second, func() bool { return w.rt.Ready() == nil }, "worker not ready again: %v", w.rt.Ready())

	// The database was in memory: deploy again and run a new instance on the same worker.
	engine.Deploy(t, key+".bpmn", topicstest.OneTaskProcess(key, topic))
	waitEnded(t, []string{engine.StartProcess(t, key, nil)}, 30*time.Second)
	assert.Equal(t, int64(2), handled.Load())
	assert.Positive(t, w.m.fetchErrors.Load())
}

// helperEnv makes the test binary a worker process (see helperWorker): WAITROOM_TEST_WORKER=
// "engineURL|workerID|topic|outputFile".
const helperEnv = "WAITROOM_TEST_WORKER"

// helperWorker runs a Runtime in this OS process until SIGTERM, appending each task id it
// handles to the output file.
func helperWorker() int {
	parts := strings.Split(os.Getenv(helperEnv), "|")
	if len(parts) != 4 {
		fmt.Fprintln(os.Stderr, "bad", helperEnv)
		return 2
	}
	out, err := os.OpenFile(parts[3], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer out.Close()
	var mu sync.Mutex
	cam := topics.Options{Engine: camunda.Config{URL: parts[0]}, WorkerID: parts[1], AsyncResponseTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second,
		PollBackoff: topics.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}, ShutdownTimeout: 5 * time.Second, LockExtensionFraction: 0.5}
	sub := topics.Topic{Name: parts[2], Handler: "h", LockDuration: 10 * time.Second, MaxTasks: 2, MaxParallel: 2, Retries: 3,
		RetryBackoff: topics.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}
	reg := topics.NewRegistry()
	reg.Register("h", func(topics.Topic, topics.Deps) (topics.Handler, error) {
		return topics.HandlerFunc(func(ctx context.Context, task *topics.Task) (topics.Complete, error) {
			select {
			case <-time.After(30 * time.Millisecond): // the work
			case <-ctx.Done():
				return topics.Complete{}, ctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			_, err := fmt.Fprintln(out, task.ID)
			return topics.Complete{}, err
		}), nil
	})
	rt, err := topics.New(cam, []topics.Topic{sub}, reg, topics.Deps{}, zap.NewNop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := rt.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestTwoWorkerProcesses: two OS processes share a topic; every task is handled exactly
// once, both take some, and after SIGTERM neither leaves a task locked.
func TestTwoWorkerProcesses(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	dir := t.TempDir()
	var procs []*exec.Cmd
	var files, workers []string
	for i := range 2 {
		file := filepath.Join(dir, fmt.Sprintf("w%d.txt", i))
		wid := fmt.Sprintf("%s-proc%d", key, i)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{engine.URL, wid, topic, file}, "|"))
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		procs, files, workers = append(procs, cmd), append(files, file), append(workers, wid)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	const n = 40
	var ids []string
	for range n {
		ids = append(ids, engine.StartProcess(t, key, nil))
	}
	waitEnded(t, ids, 60*time.Second)

	for _, p := range procs {
		require.NoError(t, p.Process.Signal(syscall.SIGTERM))
	}
	for i, p := range procs {
		assert.NoError(t, p.Wait(), "worker process %d exit", i)
	}
	seen := map[string]int{}
	for i, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Fields(string(data))
		assert.NotEmpty(t, lines, "worker process %d handled no task", i)
		for _, id := range lines {
			seen[id]++
		}
	}
	assert.Len(t, seen, n)
	for id, c := range seen {
		assert.Equal(t, 1, c, "task %s handled %d times", id, c)
	}
	for _, wid := range workers {
		assert.Empty(t, engine.ExternalTasks(t, url.Values{"workerId": {wid}, "locked": {"true"}}), "locked by %s", wid)
	}
}

// TestShutdownWithStubbornHandler: a handler that ignores its context does not hold Run past
// shutdownTimeout + requestTimeout + ~2s.
func TestShutdownWithStubbornHandler(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key, topic := deploy(t)
	engine.StartProcess(t, key, nil)
	cam := camundaConfig(key + "-w")
	cam.ShutdownTimeout, cam.RequestTimeout = 200*time.Millisecond, time.Second
	started := make(chan struct{})
	release := make(chan struct{})
	returned := make(chan struct{})
	w := startWorker(t, cam, []topics.Topic{topicConfig(topic)}, map[string]topics.Handler{
		topic: topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) {
			defer close(returned)
			close(started)
			<-release // ignores ctx
			return topics.Complete{}, nil
		}),
	})
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("handler did not start")
	}
	began := time.Now()
	w.stop(t)
	assert.Less(t, time.Since(began), 8*time.Second)
	close(release)
	<-returned
}

// TestWarnSharedTopics: another deployment (tenant "other") uses this worker's topic name, and
// its worker, which fetches without a tenant filter, holds a task of it. This worker (tenant
// "mine") warns at start, naming the topic, the tenant and the worker.
func TestWarnSharedTopics(t *testing.T) {
	topicstest.Need(t, engine)
	t.Parallel()
	key := unique(t)
	topic := key + "/work"
	other := camundaConfig(key + "-other")
	other.TenantID = "other"
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	_, err := topics.Deploy(context.Background(), other, key, []topics.Resource{{Name: key + ".bpmn", Data: topicstest.OneTaskProcess(key, topic)}}, topics.WithHTTPClient(hc))
	require.NoError(t, err, "deploy for tenant other")
	require.NoError(t, engine.Do(context.Background(), http.MethodPost, "/process-definition/key/"+key+"/tenant-id/other/start", map[string]any{}, nil))
	var locked []map[string]any
	require.NoError(t, engine.Do(context.Background(), http.MethodPost, "/external-task/fetchAndLock",
		map[string]any{"workerId": "intruder-1", "maxTasks": 1, "topics": []map[string]any{{"topicName": topic, "lockDuration": 60000}}}, &locked))
	require.Len(t, locked, 1)

	core, logs := observer.New(zap.WarnLevel)
	mine := camundaConfig(key + "-mine")
	mine.TenantID = "mine"
	sub := topicConfig(topic)
	sub.TenantIDIn = []string{"mine"}
	reg := topics.NewRegistry()
	reg.Register(topic, func(topics.Topic, topics.Deps) (topics.Handler, error) {
		return topics.HandlerFunc(func(context.Context, *topics.Task) (topics.Complete, error) { return topics.Complete{}, nil }), nil
	})
	rt, err := topics.New(mine, []topics.Topic{sub}, reg, topics.Deps{}, zap.New(core))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	checked := make(chan struct{})
	go func() { rt.WarnSharedTopics(ctx); close(checked) }()
	select {
	case <-checked:
	case <-time.After(30 * time.Second):
		t.Fatal("WarnSharedTopics did not return")
	}
	warns := logs.FilterMessage("another deployment's workers hold tasks on this worker's topic").All()
	require.Len(t, warns, 1)
	f := warns[0].ContextMap()
	require.Equal(t, topic, f["topic"])
	require.Equal(t, []any{"other"}, f["other_tenants"])
	require.Equal(t, []any{"intruder-1"}, f["other_worker_ids"])
	require.Empty(t, engine.ExternalTasks(t, url.Values{"topicName": {topic}, "workerId": {key + "-mine"}}), "tenant mine fetched nothing of tenant other")
}
