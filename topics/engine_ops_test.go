package topics_test

// Integration tests against a real engine, continued (see engine_test.go).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

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
