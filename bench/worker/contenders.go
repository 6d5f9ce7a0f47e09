package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// recorder collects what a contender reports: when each task's handler started (by process
// instance id), when the engine accepted each completion, and fetch sizes.
type recorder struct {
	mu        sync.Mutex
	starts    map[string]time.Time
	dupStarts int
	completed int
	first     time.Time
	last      time.Time
	want      int
	done      chan struct{}
	fetches   int
	fetched   int
	errors    int
}

func newRecorder(want int) *recorder {
	return &recorder{starts: make(map[string]time.Time, want), want: want, done: make(chan struct{})}
}

func (r *recorder) started(pi string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.starts[pi]; dup {
		r.dupStarts++
		return
	}
	r.starts[pi] = t
	if r.first.IsZero() || t.Before(r.first) {
		r.first = t
	}
}

func (r *recorder) completedOne(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.completed++
	if t.After(r.last) {
		r.last = t
	}
	if r.completed == r.want {
		close(r.done)
	}
}

func (r *recorder) fetch(n int) {
	r.mu.Lock()
	r.fetches++
	r.fetched += n
	r.mu.Unlock()
}

func (r *recorder) failed() {
	r.mu.Lock()
	r.errors++
	r.mu.Unlock()
}

// worker is a prepared contender: built and ready, polling only after begin.
type worker interface {
	begin() error
	stop()
	// pid is the process doing the work (for CPU accounting); 0 means this process.
	pid() int
}

// benchEnv is what every contender gets: same engine, same parallelism, same long poll.
type benchEnv struct {
	url          string
	parallel     int
	async        time.Duration
	lock         time.Duration
	nodeDir      string
	nodeInterval int
}

type contender struct {
	name    string
	prepare func(ctx context.Context, env benchEnv, topic string, rec *recorder) (worker, error)
}

var allContenders = []contender{
	{"ours", prepareOurs},
	{"node", prepareNode},
	{"raw-loops", func(ctx context.Context, env benchEnv, topic string, rec *recorder) (worker, error) {
		return prepareRaw(env, topic, rec, false)
	}},
	{"raw-batch", func(ctx context.Context, env benchEnv, topic string, rec *recorder) (worker, error) {
		return prepareRaw(env, topic, rec, true)
	}},
}

// --- ours: topics.Runtime with a handler that completes at once ---

type recMetrics struct {
	topics.NopMetrics
	rec *recorder
}

func (m recMetrics) TaskCompleted(string)         { m.rec.completedOne(time.Now()) }
func (m recMetrics) TasksFetched(_ string, n int) { m.rec.fetch(n) }
func (m recMetrics) FetchError()                  { m.rec.failed() }
func (m recMetrics) ReportError(string, string)   { m.rec.failed() }

type oursWorker struct {
	rt     *topics.Runtime
	cancel context.CancelFunc
	done   chan error
}

func prepareOurs(_ context.Context, env benchEnv, topic string, rec *recorder) (worker, error) {
	reg := topics.NewRegistry()
	reg.Register("bench", func(topics.Topic, topics.Deps) (topics.Handler, error) {
		return topics.HandlerFunc(func(_ context.Context, t *topics.Task) (topics.Complete, error) {
			rec.started(t.ProcessInstanceID, time.Now())
			return topics.Complete{}, nil
		}), nil
	})
	cfg := topics.Options{
		Engine:                camunda.Config{URL: env.url},
		WorkerID:              "bench-ours-" + topic,
		AsyncResponseTimeout:  env.async,
		RequestTimeout:        10 * time.Second,
		PollBackoff:           topics.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second},
		ShutdownTimeout:       5 * time.Second,
		LockExtensionFraction: 0.5,
	}
	sub := topics.Topic{
		Name: topic, Handler: "bench", LockDuration: env.lock,
		MaxTasks: env.parallel, MaxParallel: env.parallel,
		Retries: 3, RetryBackoff: topics.Backoff{Initial: time.Second, Max: 10 * time.Second},
	}
	rt, err := topics.New(cfg, []topics.Topic{sub}, reg, topics.Deps{}, zap.NewNop(), topics.WithMetrics(recMetrics{rec: rec}))
	if err != nil {
		return nil, err
	}
	return &oursWorker{rt: rt}, nil
}

func (w *oursWorker) begin() error {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done = make(chan error, 1)
	go func() { w.done <- w.rt.Run(ctx) }()
	return nil
}

func (w *oursWorker) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	if err := <-w.done; err != nil {
		logf("ours: Run: %v", err)
	}
}

func (w *oursWorker) pid() int { return 0 }

// --- node: the official camunda-external-task-client-js ---

type nodeWorker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
}

// ensureNodeModules runs `npm ci` in dir when node_modules is missing.
func ensureNodeModules(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "camunda-external-task-client-js")); err == nil {
		return nil
	}
	logf("node_modules missing in %s: running npm ci", dir)
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci in %s: %w", dir, err)
	}
	return nil
}

func prepareNode(ctx context.Context, env benchEnv, topic string, rec *recorder) (worker, error) {
	cmd := exec.Command("node", "worker.js")
	cmd.Dir = env.nodeDir
	cmd.Env = append(os.Environ(),
		"BENCH_BASE_URL="+env.url,
		"BENCH_TOPIC="+topic,
		"BENCH_PARALLEL="+strconv.Itoa(env.parallel),
		"BENCH_ASYNC_MS="+strconv.FormatInt(env.async.Milliseconds(), 10),
		"BENCH_INTERVAL_MS="+strconv.Itoa(env.nodeInterval),
		"BENCH_LOCK_MS="+strconv.FormatInt(env.lock.Milliseconds(), 10),
		"BENCH_WORKER_ID=bench-node-"+topic,
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = prefixWriter{prefix: "node: "}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	w := &nodeWorker{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(w.exited)
		sc := bufio.NewScanner(stdout)
		readyOnce := sync.Once{}
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "READY":
				readyOnce.Do(func() { close(ready) })
			case len(f) == 3 && f[0] == "S":
				rec.started(f[1], msTime(f[2]))
			case len(f) == 2 && f[0] == "C":
				rec.completedOne(msTime(f[1]))
			case len(f) == 2 && f[0] == "F":
				n, _ := strconv.Atoi(f[1])
				rec.fetch(n)
			default:
				logf("node: unexpected line %q", sc.Text())
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
		return w, nil
	case <-w.exited:
		return nil, errors.New("node worker exited before READY")
	case <-time.After(30 * time.Second):
		w.stop()
		return nil, errors.New("node worker not READY after 30s")
	case <-ctx.Done():
		w.stop()
		return nil, ctx.Err()
	}
}

// msTime turns "1732730000123.456" (epoch ms with a µs fraction) into a time.
func msTime(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMicro(int64(f * 1000))
}

func (w *nodeWorker) begin() error {
	_, err := io.WriteString(w.stdin, "GO\n")
	return err
}

func (w *nodeWorker) stop() {
	_, _ = io.WriteString(w.stdin, "STOP\n")
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}

func (w *nodeWorker) pid() int { return w.cmd.Process.Pid }

type prefixWriter struct{ prefix string }

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		logf("%s%s", p.prefix, line)
	}
	return len(b), nil
}

// --- raw: the smallest correct loop over net/http (the engine's ceiling) ---

// rawWorker is either P independent loops (fetchAndLock maxTasks 1, long poll → complete)
// or one loop fetching up to P tasks and completing them concurrently before the next fetch.
type rawWorker struct {
	env    benchEnv
	topic  string
	rec    *recorder
	batch  bool
	hc     *http.Client
	fetchB func(n int) []byte
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func prepareRaw(env benchEnv, topic string, rec *recorder, batch bool) (worker, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = env.parallel + 8
	wid := "bench-raw-" + topic
	w := &rawWorker{env: env, topic: topic, rec: rec, batch: batch,
		hc: &http.Client{Transport: tr, Timeout: env.async + 15*time.Second}}
	w.fetchB = func(n int) []byte {
		b, _ := json.Marshal(map[string]any{
			"workerId": wid, "maxTasks": n, "usePriority": false,
			"asyncResponseTimeout": env.async.Milliseconds(),
			"topics":               []map[string]any{{"topicName": topic, "lockDuration": env.lock.Milliseconds()}},
		})
		return b
	}
	return w, nil
}

type rawTask struct {
	ID                string `json:"id"`
	ProcessInstanceID string `json:"processInstanceId"`
	WorkerID          string `json:"workerId"`
}

func (w *rawWorker) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.env.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (w *rawWorker) complete(ctx context.Context, t rawTask) {
	body := []byte(`{"workerId":` + strconv.Quote(t.WorkerID) + `}`)
	if err := w.post(ctx, "/external-task/"+t.ID+"/complete", body, nil); err != nil {
		if ctx.Err() == nil {
			logf("raw: complete: %v", err)
			w.rec.failed()
		}
		return
	}
	w.rec.completedOne(time.Now())
}

func (w *rawWorker) fetch(ctx context.Context, n int) ([]rawTask, bool) {
	var tasks []rawTask
	if err := w.post(ctx, "/external-task/fetchAndLock", w.fetchB(n), &tasks); err != nil {
		if ctx.Err() != nil {
			return nil, false
		}
		logf("raw: fetchAndLock: %v", err)
		w.rec.failed()
		time.Sleep(100 * time.Millisecond)
		return nil, true
	}
	if len(tasks) > 0 {
		w.rec.fetch(len(tasks))
	}
	return tasks, true
}

func (w *rawWorker) begin() error {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	if w.batch {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				tasks, ok := w.fetch(ctx, w.env.parallel)
				if !ok {
					return
				}
				var wg sync.WaitGroup
				for _, t := range tasks {
					w.rec.started(t.ProcessInstanceID, time.Now())
					wg.Add(1)
					go func() { defer wg.Done(); w.complete(ctx, t) }()
				}
				wg.Wait()
			}
		}()
		return nil
	}
	for range w.env.parallel {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				tasks, ok := w.fetch(ctx, 1)
				if !ok {
					return
				}
				for _, t := range tasks {
					w.rec.started(t.ProcessInstanceID, time.Now())
					w.complete(ctx, t)
				}
			}
		}()
	}
	return nil
}

func (w *rawWorker) stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	w.hc.CloseIdleConnections()
}

func (w *rawWorker) pid() int { return 0 }

// --- raw-refill-N: one pipelined poll loop like ours and the Node client, but it polls only
// when at least N handler slots are free (or all are free), to show what the refill policy
// costs the engine. raw-refill-1 is the policy ours and the Node client use.

type refillWorker struct {
	raw     *rawWorker
	minFree int
	mu      sync.Mutex
	cond    *sync.Cond
	free    int
}

func prepareRefill(env benchEnv, topic string, rec *recorder, minFree int) (worker, error) {
	w, err := prepareRaw(env, topic, rec, false)
	if err != nil {
		return nil, err
	}
	r := &refillWorker{raw: w.(*rawWorker), minFree: max(1, min(minFree, env.parallel)), free: env.parallel}
	r.cond = sync.NewCond(&r.mu)
	return r, nil
}

func (r *refillWorker) begin() error {
	w := r.raw
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = func() {
		cancel()
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			r.mu.Lock()
			for r.free < r.minFree && ctx.Err() == nil {
				r.cond.Wait()
			}
			n := r.free
			r.free = 0 // reserved for this poll
			r.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			tasks, ok := w.fetch(ctx, n)
			if !ok {
				return
			}
			r.mu.Lock()
			r.free += n - len(tasks)
			r.mu.Unlock()
			for _, t := range tasks {
				w.rec.started(t.ProcessInstanceID, time.Now())
				w.wg.Add(1)
				go func() {
					defer w.wg.Done()
					w.complete(ctx, t)
					r.mu.Lock()
					r.free++
					r.cond.Signal()
					r.mu.Unlock()
				}()
			}
		}
	}()
	return nil
}

func (r *refillWorker) stop() { r.raw.stop() }

func (r *refillWorker) pid() int { return 0 }
