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
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

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
