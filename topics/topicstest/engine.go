// Package topicstest runs tests of external-task workers against a real Camunda 7.24 engine:
// it starts the development engine (dev/camunda, built by `dev/camunda/engine.sh build`) on
// a free port, or uses WAITROOM_TEST_CAMUNDA_URL, and offers the few REST calls tests need
// (deploy, start an instance, inspect external tasks, incidents and history).
//
// It is a stop-gap until internal/enginetest lands; tests use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(topicstest.Main(m, &engine)) }
package topicstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// EnvURL names an engine to use instead of starting one (tests must then not Restart it).
const EnvURL = "WAITROOM_TEST_CAMUNDA_URL"

// ErrNoEngine: neither WAITROOM_TEST_CAMUNDA_URL nor the harness jar is available.
var ErrNoEngine = errors.New("no Camunda engine: set " + EnvURL + " or build the harness with dev/camunda/engine.sh build")

// Engine is a running engine.
type Engine struct {
	// URL is the REST root, e.g. http://127.0.0.1:41234/engine-rest.
	URL string
	// External is true when the engine came from WAITROOM_TEST_CAMUNDA_URL (no Stop/Restart).
	External bool

	port   int
	jar    string
	args   []string
	cmd    *exec.Cmd
	waitCh chan struct{}
	logf   *os.File
	hc     *http.Client
}

// Main starts an engine (or finds WAITROOM_TEST_CAMUNDA_URL), stores it in *e, runs the tests
// and stops it. Without an engine the package's tests are skipped, except with CI=true where
// a missing engine fails them.
func Main(m *testing.M, e **Engine) int {
	eng, err := Start()
	if err != nil {
		if errors.Is(err, ErrNoEngine) && os.Getenv("CI") != "true" {
			fmt.Fprintln(os.Stderr, "topicstest: skipping engine tests:", err)
			return m.Run() // tests needing the engine skip via Need
		}
		fmt.Fprintln(os.Stderr, "topicstest:", err)
		return 1
	}
	*e = eng
	code := m.Run()
	eng.Stop()
	return code
}

// Need skips t when no engine runs (outside CI; in CI Main already failed).
func Need(t testing.TB, e *Engine) *Engine {
	t.Helper()
	if e == nil {
		t.Skip(ErrNoEngine.Error())
	}
	return e
}

// Start returns the engine named by WAITROOM_TEST_CAMUNDA_URL or starts the harness jar on a
// free port and waits until its REST API answers.
func Start() (*Engine, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if u := os.Getenv(EnvURL); u != "" {
		return &Engine{URL: strings.TrimRight(u, "/"), External: true, hc: hc}, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "dev", "camunda", "target")
	jar := filepath.Join(dir, "camunda-dev.jar")
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Errorf("%w (%s missing)", ErrNoEngine, jar)
	}
	args := []string{"-XX:+UseSerialGC", "-Xss512k", "-XX:TieredStopAtLevel=1"}
	// The extracted layout with its CDS archive starts faster (see dev/camunda/engine.sh).
	xjar := filepath.Join(dir, "camunda-dev", "camunda-dev.jar")
	if st, err := os.Stat(xjar); err == nil {
		if js, err := os.Stat(jar); err == nil && !st.ModTime().Before(js.ModTime()) {
			jar = xjar
			if jsa := filepath.Join(dir, "camunda-dev", "camunda-dev.jsa"); fileExists(jsa) {
				args = append(args, "-XX:SharedArchiveFile="+jsa, "-Xshare:auto")
			}
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &Engine{port: port, jar: jar, args: args, hc: hc,
		URL: fmt.Sprintf("http://127.0.0.1:%d/engine-rest", port)}
	if err := e.start(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) start() error {
	logf, err := os.CreateTemp("", fmt.Sprintf("camunda-test-%d-*.log", e.port))
	if err != nil {
		return err
	}
	args := append(append([]string{}, e.args...), "-jar", e.jar, "--server.port="+strconv.Itoa(e.port))
	cmd := exec.Command("java", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start engine: %w", err)
	}
	e.cmd, e.logf = cmd, logf
	e.waitCh = make(chan struct{})
	go func(ch chan struct{}) { _ = cmd.Wait(); close(ch) }(e.waitCh)
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-e.waitCh:
			return fmt.Errorf("engine exited during start-up; log: %s", logf.Name())
		default:
		}
		if e.ping() == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond) // polling the start-up, not synchronising tests
	}
	e.kill()
	return fmt.Errorf("engine did not answer within 4m; log: %s", logf.Name())
}

func (e *Engine) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return e.call(ctx, http.MethodGet, "/engine", nil, nil)
}

func (e *Engine) kill() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.waitCh:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.waitCh
	}
	e.cmd = nil
	if e.logf != nil {
		e.logf.Close()
		if os.Getenv("KEEP_ENGINE_LOG") == "" {
			os.Remove(e.logf.Name())
		}
	}
}

// Stop stops a started engine (its in-memory database is lost).
func (e *Engine) Stop() {
	if !e.External {
		e.kill()
	}
	e.hc.CloseIdleConnections()
}

// Restart stops the engine and starts it again on the same port: an outage under the
// worker. The database is in memory, so deployments and instances are gone afterwards.
func (e *Engine) Restart(t testing.TB) {
	t.Helper()
	if e.External {
		t.Skip("cannot restart an engine from " + EnvURL)
	}
	e.kill()
	if err := e.start(); err != nil {
		t.Fatalf("restart engine: %v", err)
	}
}

// Kill stops the engine without starting it again (call StartAgain later).
func (e *Engine) Kill(t testing.TB) {
	t.Helper()
	if e.External {
		t.Skip("cannot stop an engine from " + EnvURL)
	}
	e.kill()
}

// StartAgain starts the engine stopped by Kill on the same port.
func (e *Engine) StartAgain(t testing.TB) {
	t.Helper()
	if err := e.start(); err != nil {
		t.Fatalf("start engine again: %v", err)
	}
}

func (e *Engine) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Deploy deploys one BPMN resource.
func (e *Engine) Deploy(t testing.TB, name string, bpmn []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("deployment-name", name)
	w, _ := mw.CreateFormFile(name, name)
	_, _ = w.Write(bpmn)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/deployment/create", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("deploy %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("deploy %s: %d %s", name, resp.StatusCode, b)
	}
}

// StartProcess starts an instance of key with variables and returns its id.
func (e *Engine) StartProcess(t testing.TB, key string, vars topics.Variables) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	in := map[string]any{"variables": vars}
	if vars == nil {
		in = map[string]any{}
	}
	if err := e.call(context.Background(), http.MethodPost, "/process-definition/key/"+url.PathEscape(key)+"/start", in, &out); err != nil {
		t.Fatalf("start %s: %v", key, err)
	}
	return out.ID
}

// ExternalTask is an external task as GET /external-task lists it.
type ExternalTask struct {
	ID                 string  `json:"id"`
	TopicName          string  `json:"topicName"`
	WorkerID           *string `json:"workerId"`
	LockExpirationTime *string `json:"lockExpirationTime"`
	Retries            *int    `json:"retries"`
	ErrorMessage       *string `json:"errorMessage"`
	ProcessInstanceID  string  `json:"processInstanceId"`
}

// ExternalTasks lists external tasks matching query (e.g. topicName, workerId, locked=true).
func (e *Engine) ExternalTasks(t testing.TB, query url.Values) []ExternalTask {
	t.Helper()
	var out []ExternalTask
	if err := e.call(context.Background(), http.MethodGet, "/external-task?"+query.Encode(), nil, &out); err != nil {
		t.Fatalf("list external tasks: %v", err)
	}
	return out
}

// ErrorDetails returns a task's error details.
func (e *Engine) ErrorDetails(t testing.TB, taskID string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/external-task/"+taskID+"/errorDetails", nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("error details: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Incident is an open incident.
type Incident struct {
	ID                string `json:"id"`
	IncidentType      string `json:"incidentType"`
	IncidentMessage   string `json:"incidentMessage"`
	ProcessInstanceID string `json:"processInstanceId"`
	ActivityID        string `json:"activityId"`
}

// Incidents lists open incidents of a process instance.
func (e *Engine) Incidents(t testing.TB, processInstanceID string) []Incident {
	t.Helper()
	var out []Incident
	if err := e.call(context.Background(), http.MethodGet, "/incident?processInstanceId="+url.QueryEscape(processInstanceID), nil, &out); err != nil {
		t.Fatalf("incidents: %v", err)
	}
	return out
}

// Ended reports whether a process instance has ended (history).
func (e *Engine) Ended(t testing.TB, processInstanceID string) bool {
	t.Helper()
	var out struct {
		State string `json:"state"`
	}
	if err := e.call(context.Background(), http.MethodGet, "/history/process-instance/"+url.PathEscape(processInstanceID), nil, &out); err != nil {
		t.Fatalf("history: %v", err)
	}
	return out.State == "COMPLETED"
}

// Variable returns a historic variable of an instance (nil if absent).
func (e *Engine) Variable(t testing.TB, processInstanceID, name string) *topics.Variable {
	t.Helper()
	var out []struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	q := url.Values{"processInstanceId": {processInstanceID}, "variableName": {name}, "deserializeValues": {"false"}}
	if err := e.call(context.Background(), http.MethodGet, "/history/variable-instance?"+q.Encode(), nil, &out); err != nil {
		t.Fatalf("history variables: %v", err)
	}
	if len(out) == 0 {
		return nil
	}
	return &topics.Variable{Type: out[0].Type, Value: out[0].Value}
}

// Eventually polls cond every 50 ms until it holds or timeout passes, then fails t with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// OneTaskProcess is a BPMN model: start -> external task on topic -> end, with process id key.
func OneTaskProcess(key, topic string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d-%[1]s" targetNamespace="http://camunda-waitroom/test">
  <bpmn:process id="%[1]s" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="%[2]s"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>`, key, topic))
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory", ErrNoEngine)
		}
		dir = parent
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
