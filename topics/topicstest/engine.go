// Package topicstest runs tests of external-task workers against a real engine started by
// internal/enginetest (Camunda 7.24 or Operaton as WAITROOM_TEST_ENGINE says, or the engine at
// WAITROOM_TEST_CAMUNDA_URL), with
// test-failing wrappers of the few REST calls worker tests need (deploy, start an instance,
// inspect external tasks, incidents and history) and a one-task BPMN model per test.
//
// One engine per test package, from TestMain:
//
//	var engine *topicstest.Engine
//	func TestMain(m *testing.M) { os.Exit(topicstest.Main(m, &engine)) }
package topicstest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// Engine is a running engine.
type Engine struct {
	*enginetest.Engine
	// URL is the REST root, e.g. http://127.0.0.1:41234/engine-rest.
	URL string
	// External is true when the engine came from WAITROOM_TEST_CAMUNDA_URL (no Kill/Restart).
	External bool
}

// Main starts an engine (or attaches to WAITROOM_TEST_CAMUNDA_URL), stores it in *e, runs
// the tests and stops it. Without the engine jar the tests that Need it are skipped, except
// with CI=true where a missing jar fails the package.
//
// With -short (make test-unit), and while fuzzing (go test -fuzz), no engine starts and the
// tests that Need one skip: the fuzzing engine runs the test binary once per worker, and fuzz
// targets must not need a JVM each.
func Main(m *testing.M, e **Engine) int {
	if Fuzzing() || testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), enginetest.DefaultStartTimeout+10*time.Second)
	eng, err := enginetest.Start(ctx, enginetest.Options{})
	cancel()
	if err != nil {
		if errors.Is(err, enginetest.ErrJarMissing) && os.Getenv("CI") != "true" {
			fmt.Fprintln(os.Stderr, "topicstest: engine tests skipped:", err)
			return m.Run()
		}
		fmt.Fprintln(os.Stderr, "topicstest:", err)
		return 1
	}
	*e = &Engine{Engine: eng, URL: eng.BaseURL, External: eng.External()}
	code := m.Run()
	if code != 0 && !eng.External() {
		fmt.Fprintf(os.Stderr, "%s engine log (%s), last lines:\n%s\n", eng.Kind(), eng.LogPath(), eng.LogTail(40))
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = eng.Stop(stopCtx)
	return code
}

// Fuzzing reports whether the test binary runs as a fuzzing coordinator or worker.
func Fuzzing() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return true
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return true
	}
	return false
}

// Need skips t when no engine runs (outside CI; in CI Main already failed).
func Need(t testing.TB, e *Engine) *Engine {
	t.Helper()
	if e == nil {
		t.Skip(enginetest.ErrJarMissing.Error())
	}
	return e
}

// Kill stops the engine at once (a crash, as the worker sees it); StartAgain brings it back
// on the same port with an empty database.
func (e *Engine) Kill(t testing.TB) {
	t.Helper()
	if e.External {
		t.Skip("cannot stop an engine from " + enginetest.EnvURL)
	}
	e.Engine.Kill()
}

// StartAgain starts the engine stopped by Kill on the same port.
func (e *Engine) StartAgain(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), enginetest.DefaultStartTimeout)
	defer cancel()
	if err := e.Engine.StartAgain(ctx); err != nil {
		t.Fatalf("start engine again: %v", err)
	}
}

func (e *Engine) call(ctx context.Context, method, path string, in, out any) error {
	return e.Do(ctx, method, path, in, out)
}

// Deploy deploys one BPMN resource.
func (e *Engine) Deploy(t testing.TB, name string, bpmn []byte) {
	t.Helper()
	if _, err := e.Engine.Deploy(context.Background(), name, map[string][]byte{name: bpmn}); err != nil {
		t.Fatalf("deploy %s: %v", name, err)
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
	// text/plain, so not through Do (which decodes JSON).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(e.URL + "/external-task/" + url.PathEscape(taskID) + "/errorDetails")
	if err != nil {
		t.Fatalf("error details: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("error details: %d %s", resp.StatusCode, b)
	}
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
