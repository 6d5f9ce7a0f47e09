package httpapi_test

// Helpers of the end-to-end tests: the whole daemon (app.Run) in-process on a free port, with
// a SQLite store in a temp dir, against the package's engine (Camunda or Operaton).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/app"
	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

// engine is the package's engine (nil when the jar is not built, outside CI).
var engine *topicstest.Engine

func TestMain(m *testing.M) { os.Exit(topicstest.Main(m, &engine)) }

// Test process "test-slow": a user task holds it until the test completes that task over the
// engine's REST API, then the generic result handler (topic test-slow/result) finishes the row
// DONE with {"greeting": ...}. It is "a process slower than the wait", deterministically.
const (
	slowKey   = "test-slow"
	slowTopic = "test-slow/result"
)

var slowBPMN = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="test-slow-definitions" targetNamespace="http://camunda-waitroom/test">
  <bpmn:process id="test-slow" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="hold" name="Hold" />
    <bpmn:serviceTask id="respond" camunda:type="external" camunda:topic="test-slow/result" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hold" />
    <bpmn:sequenceFlow id="f2" sourceRef="hold" targetRef="respond" />
    <bpmn:sequenceFlow id="f3" sourceRef="respond" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
`)

var deploySlow sync.Once

// needEngine skips without an engine and deploys the test process once.
func needEngine(t *testing.T) *topicstest.Engine {
	t.Helper()
	e := topicstest.Need(t, engine)
	deploySlow.Do(func() { e.Deploy(t, "test-slow.bpmn", slowBPMN) })
	return e
}

// daemonOpts vary the daemon's configuration.
type daemonOpts struct {
	camundaURL    string // default: the package engine
	authToken     string
	waitTimeout   time.Duration // waitroom.timeout; default 3s
	noDeploy      bool          // camunda.deployOnStart false
	waitForEngine bool          // wait until /readyz is 200 and onboard-user is deployed
	maxWaiters    int           // waitroom.maxWaiters; default 1000
	startTimeout  time.Duration // http.startTimeout; default 5s
	startLease    time.Duration // http.startLease; default 3 x startTimeout
	maxBodyBytes  int           // http.maxBodyBytes; default 2048
	tenantID      string        // camunda.tenantId
}

// daemon is one app.Run in this process.
type daemon struct {
	base   string // http://127.0.0.1:port
	dbPath string
	token  string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
	once   sync.Once
	runErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a port that was free a moment ago (the daemon's http.addr must be
// observable, so ":0" will not do).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func daemonYAML(dir string, port int, o daemonOpts) string {
	wait := o.waitTimeout
	if wait <= 0 {
		wait = 3 * time.Second
	}
	deploy := !o.noDeploy
	maxWaiters := o.maxWaiters
	if maxWaiters <= 0 {
		maxWaiters = 1000
	}
	startTimeout := o.startTimeout
	if startTimeout <= 0 {
		startTimeout = 5 * time.Second
	}
	startLease := o.startLease
	if startLease <= 0 {
		startLease = 3 * startTimeout
	}
	maxBody := o.maxBodyBytes
	if maxBody <= 0 {
		maxBody = 2048
	}
	return fmt.Sprintf(`
instance: {id: e2e-%d}
log: {level: info, format: console}
store:
  driver: sqlite
  dsn: "file:%s"
  connectTimeout: 10s
camunda:
  url: %q
  asyncResponseTimeout: 2s
  requestTimeout: 5s
  pollBackoff: {initial: 100ms, max: 500ms}
  shutdownTimeout: 3s
  deployOnStart: %t
  tenantId: %q
topics:
  - name: onboard-user/create-account
    handler: onboard-user/create-account
    lockDuration: 10s
    maxTasks: 50
    maxParallel: 50
    retries: 3
    retryBackoff: {initial: 100ms, max: 1s}
  - name: onboard-user/prepare-response
    handler: onboard-user/prepare-response
    lockDuration: 10s
    maxTasks: 50
    maxParallel: 50
    retries: 3
    retryBackoff: {initial: 100ms, max: 1s}
    result: {correlationVariable: correlationId, errorVariable: error, onMissingRow: insert}
  - name: %s
    handler: result
    lockDuration: 10s
    maxTasks: 10
    maxParallel: 10
    retries: 3
    retryBackoff: {initial: 100ms, max: 1s}
    result: {correlationVariable: correlationId, variables: [greeting]}
waitroom:
  timeout: %s
  pollInterval: 20ms
  maxWaiters: %d
http:
  addr: "127.0.0.1:%d"
  authToken: %q
  maxBodyBytes: %d
  readTimeout: 10s
  writeTimeout: %s
  startableProcesses: [onboard-user, %s, %s, %s]
  startTimeout: %s
  startLease: %s
retention: {enabled: false}
`, port, filepath.Join(dir, "waitroom.db"), o.camundaURL, deploy, o.tenantID, slowTopic, wait, maxWaiters, port, o.authToken, maxBody, wait+10*time.Second,
		slowKey, failsKey, notDeployedKey, startTimeout, startLease)
}

// startDaemon runs app.Run on a free port until the test ends. It returns once /healthz
// answers (and, with waitForEngine, once /readyz is 200 and onboard-user is deployed).
func startDaemon(t *testing.T, o daemonOpts) *daemon {
	t.Helper()
	if o.camundaURL == "" {
		o.camundaURL = needEngine(t).URL
	}
	for attempt := 1; ; attempt++ {
		d, err := tryStartDaemon(t, o)
		if err == nil {
			if o.waitForEngine {
				d.waitReady(t)
			}
			return d
		}
		// The free port may have been taken between the probe and app.Run's listen.
		if attempt >= 3 || !strings.Contains(err.Error(), "http.addr") {
			require.NoError(t, err, "start the daemon")
		}
	}
}

func tryStartDaemon(t *testing.T, o daemonOpts) (*daemon, error) {
	dir := t.TempDir()
	port := freePort(t)
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(daemonYAML(dir, port, o)), 0o600))
	cfg, _, err := config.Load(path, func(string) string { return "" })
	require.NoError(t, err, "config")

	logs := &syncBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(logs), zap.InfoLevel))
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{base: fmt.Sprintf("http://127.0.0.1:%d", port), dbPath: filepath.Join(dir, "waitroom.db"),
		token: o.authToken, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { d.done <- app.Run(ctx, cfg, log) }()
	t.Cleanup(func() {
		err := d.stop(30 * time.Second)
		if t.Failed() {
			t.Logf("daemon log:\n%s", tail(logs.String(), 80))
		}
		require.NoError(t, err, "app.Run")
	})

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			d.once.Do(func() { d.runErr = err })
			cancel()
			if err == nil {
				err = fmt.Errorf("app.Run returned nil before serving")
			}
			return nil, err
		default:
		}
		resp, err := http.Get(d.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	return nil, fmt.Errorf("daemon did not serve /healthz within 30s")
}

// stop cancels the daemon's context and returns app.Run's result (within timeout).
func (d *daemon) stop(timeout time.Duration) error {
	d.cancel()
	d.once.Do(func() {
		select {
		case d.runErr = <-d.done:
		case <-time.After(timeout):
			d.runErr = fmt.Errorf("app.Run did not return within %s of the cancellation", timeout)
		}
	})
	return d.runErr
}

func (d *daemon) waitReady(t *testing.T) {
	t.Helper()
	enginetest.Eventually(t, 60*time.Second, func() (bool, error) {
		code, body := d.get(t, "/readyz")
		if code != http.StatusOK {
			return false, fmt.Errorf("/readyz %d: %s", code, body)
		}
		return true, nil
	}, "daemon ready")
	e := needEngine(t)
	enginetest.Eventually(t, 60*time.Second, func() (bool, error) {
		var def struct{ ID string }
		if err := e.Do(context.Background(), http.MethodGet, "/process-definition/key/onboard-user", nil, &def); err != nil {
			return false, err
		}
		return def.ID != "", nil
	}, "onboard-user deployed by the daemon")
}

var client = &http.Client{Timeout: 60 * time.Second}

// do sends a request with the daemon's token (if any) and returns status, headers and body.
func (d *daemon) do(t testing.TB, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	return d.doToken(t, method, path, body, d.token)
}

func (d *daemon) doToken(t testing.TB, method, path, body, token string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.url(path), rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func (d *daemon) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return d.base + path
}

func (d *daemon) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, b := d.do(t, http.MethodGet, path, "")
	return resp.StatusCode, string(b)
}

// result is the body of 200/202 answers.
type result struct {
	CorrelationID     string          `json:"correlationId"`
	Status            string          `json:"status"`
	Payload           json.RawMessage `json:"payload"`
	ProcessInstanceID string          `json:"processInstanceId"`
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "body: %s", b)
	return v
}

// requireProblem checks an RFC 9457 answer: status, Content-Type, type suffix, a detail or
// title containing each of want, and returns the document.
func requireProblem(t testing.TB, resp *http.Response, body []byte, status int, typ string, want ...string) map[string]any {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, "body: %s", body)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	p := decode[map[string]any](t, body)
	require.Equal(t, "urn:camunda-waitroom:problem:"+typ, p["type"], "body: %s", body)
	require.EqualValues(t, status, p["status"])
	require.NotEmpty(t, p["title"])
	text := fmt.Sprint(p["title"], " ", p["detail"])
	for _, w := range want {
		require.Contains(t, text, w, "problem: %s", body)
	}
	return p
}

// metrics scrapes /metrics and parses the text exposition.
func (d *daemon) metrics(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := d.do(t, http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	return fams
}

// sample returns the value of the family's sample whose labels include labels (counter,
// gauge or untyped), and whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// waitWaiters polls the waiters gauge until it is n.
func (d *daemon) waitWaiters(t *testing.T, n int) {
	t.Helper()
	enginetest.Eventually(t, 10*time.Second, func() (bool, error) {
		v, ok := sample(d.metrics(t), "camunda_waitroom_waiters", nil)
		return ok && v == float64(n), nil
	}, fmt.Sprintf("%d waiter(s) in the waitroom", n))
}

// store opens a second store on the daemon's SQLite file, as another replica would.
func (d *daemon) store(t *testing.T) repo.Store {
	t.Helper()
	db, err := sqlite.OpenDB("file:" + d.dbPath)
	require.NoError(t, err)
	s, err := sqlite.New(context.Background(), db, repo.Options{Driver: repo.DriverSQLite, Owner: "other-replica"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// completeUserTask completes the test-slow instance's user task (the one carrying
// correlationId id) with greeting.
func completeUserTask(t *testing.T, id, greeting string) {
	t.Helper()
	e := needEngine(t)
	var tasks []struct{ ID string }
	enginetest.Eventually(t, 10*time.Second, func() (bool, error) {
		// The POST form: the GET form's name_eq_value syntax breaks on ids containing "_".
		q := map[string]any{"processDefinitionKey": slowKey,
			"processVariables": []map[string]any{{"name": "correlationId", "operator": "eq", "value": id}}}
		err := e.Do(context.Background(), http.MethodPost, "/task", q, &tasks)
		return len(tasks) == 1, err
	}, "the test-slow user task of "+id)
	body := map[string]any{"variables": map[string]any{"greeting": map[string]any{"value": greeting, "type": "String"}}}
	require.NoError(t, e.Do(context.Background(), http.MethodPost, "/task/"+tasks[0].ID+"/complete", body, nil))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
