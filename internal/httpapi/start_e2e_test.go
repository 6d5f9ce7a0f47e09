package httpapi_test

// End-to-end tests of the start flow (startflow.go): exactly one process instance per
// correlation id, and how the engine's answers map to rows and HTTP answers. The whole daemon
// runs against the real engine; an interrupted start is set up through the store, as another
// replica would have left it, and a slow engine answer through a proxy that holds the real
// engine's answer back.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

const (
	// failsKey is a process whose start fails inside the engine: 500 with a RestException.
	failsKey = "test-fails"
	// notDeployedKey is allow-listed in the test daemons but never deployed.
	notDeployedKey = "test-not-deployed"
	// unlistedKey is deployed but not allow-listed.
	unlistedKey = "test-unlisted"
)

var failsBPMN = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="test-fails-definitions" targetNamespace="http://camunda-waitroom/test">
  <bpmn:process id="test-fails" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start" />
    <bpmn:serviceTask id="boom" camunda:expression="${noSuchBean.call()}" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="boom" />
    <bpmn:sequenceFlow id="f2" sourceRef="boom" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
`)

var deployStartModels sync.Once

// startEngine is needEngine plus the start flow's test processes.
func startEngine(t *testing.T) *topicstest.Engine {
	t.Helper()
	e := needEngine(t)
	deployStartModels.Do(func() {
		e.Deploy(t, "test-fails.bpmn", failsBPMN)
		e.Deploy(t, "test-unlisted.bpmn", []byte(strings.ReplaceAll(string(slowBPMN), `"test-slow"`, `"`+unlistedKey+`"`)))
	})
	return e
}

// instancesOf lists the instances of key, running or ended, whose correlationId is id: the
// POST query form, since ids may contain "_".
func instancesOf(t *testing.T, e *topicstest.Engine, key, id string) []string {
	t.Helper()
	var out []struct{ ID string }
	q := map[string]any{"processDefinitionKey": key,
		"variables": []map[string]any{{"name": "correlationId", "operator": "eq", "value": id}}}
	require.NoError(t, e.Do(context.Background(), http.MethodPost, "/history/process-instance", q, &out))
	ids := make([]string, len(out))
	for i, o := range out {
		ids[i] = o.ID
	}
	return ids
}

func TestE2EUnlistedDeployedProcessAnswers404(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := startEngine(t)
	resp, body := d.do(t, http.MethodPost, "/process/"+unlistedKey+"/start", `{"correlationId": "unlisted-1"}`)
	requireProblem(t, resp, body, http.StatusNotFound, "process-not-found", unlistedKey)
	require.Empty(t, instancesOf(t, e, unlistedKey, "unlisted-1"), "deployed, but not startable through the API")
}

// TestE2ENotDeployedProcessFailsTheRow: an allow-listed key the engine has no definition for
// is a definite refusal: nothing started, so the row gets its final answer (ERROR) and the
// start answers 502 (our side's deployment is wrong, not the client's request).
func TestE2ENotDeployedProcessFailsTheRow(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	resp, body := d.do(t, http.MethodPost, "/process/"+notDeployedKey+"/start", `{"correlationId": "nodef-1"}`)
	p := requireProblem(t, resp, body, http.StatusBadGateway, "process-not-deployed", notDeployedKey)
	require.Equal(t, "nodef-1", p["correlationId"])
	require.Empty(t, resp.Header.Get("Location"))
	rec, err := d.store(t).Find(context.Background(), "nodef-1")
	require.NoError(t, err)
	require.Equal(t, repo.StatusError, rec.Status)
	resp, body = d.do(t, http.MethodGet, "/process/nodef-1/result", "")
	p = requireProblem(t, resp, body, http.StatusUnprocessableEntity, "process-error")
	require.Equal(t, "process-not-deployed", p["error"].(map[string]any)["error"])
}

// TestE2EEngineErrorLeavesTheRowPending: the engine took the start and failed it with an error
// of its own (500, RestException). Whether its transaction committed is not known to us, so the
// row stays PENDING: 502 with Location, never ERROR for a process that may be running.
func TestE2EEngineErrorLeavesTheRowPending(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := startEngine(t)
	resp, body := d.do(t, http.MethodPost, "/process/"+failsKey+"/start", `{"correlationId": "fails-1"}`)
	p := requireProblem(t, resp, body, http.StatusBadGateway, "engine-error", "RestException", "may have started")
	require.Equal(t, "PENDING", p["resultStatus"])
	require.Equal(t, "/process/fails-1/result", resp.Header.Get("Location"))
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	st, err := d.store(t).ReadStart(context.Background(), "fails-1")
	require.NoError(t, err)
	require.Equal(t, repo.StatusPending, st.Status)
	require.Greater(t, st.LeaseLeft, time.Duration(0), "the claim holds: the start may still commit")
	require.Empty(t, instancesOf(t, e, failsKey, "fails-1"))
}

// TestE2ESlowEngineStartAnswers503ThenTheResult: the engine starts the instance but its answer
// comes after http.startTimeout. The start answers 503 with Location and leaves the row
// PENDING; the process runs on and its result is delivered at Location; a retry of the start
// returns that result and starts nothing. (This used to answer 502 "refused", fail the row and
// drop the result of the process that did run.)
func TestE2ESlowEngineStartAnswers503ThenTheResult(t *testing.T) {
	e := needEngine(t)
	target, err := url.Parse(e.URL)
	require.NoError(t, err)
	target.Path = ""
	var held sync.WaitGroup
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/process-definition/key/onboard-user/start") {
			proxy.ServeHTTP(w, r)
			return
		}
		// Forward the start at once (the engine starts the instance), but hold its answer
		// until the daemon has given up waiting for it.
		held.Add(1)
		defer held.Done()
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		<-r.Context().Done()
	}))
	t.Cleanup(func() { srv.Close(); held.Wait() })

	d := startDaemon(t, daemonOpts{camundaURL: srv.URL + "/engine-rest", waitForEngine: true,
		startTimeout: 500 * time.Millisecond, startLease: 3 * time.Second})
	began := time.Now()
	req := `{"correlationId": "slow_start-1", "variables": {"email": "s@example.com", "name": "S"}}`
	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", req)
	p := requireProblem(t, resp, body, http.StatusServiceUnavailable, "engine-unavailable", "did not answer", "may have started")
	require.Less(t, time.Since(began), 5*time.Second, "answered at http.startTimeout, not at the end of the wait")
	loc := resp.Header.Get("Location")
	require.Equal(t, "/process/slow_start-1/result", loc)
	require.Equal(t, "PENDING", p["resultStatus"])

	var got result
	enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
		resp, body := d.do(t, http.MethodGet, loc+"?wait=2s", "")
		switch resp.StatusCode {
		case http.StatusOK:
			got = decode[result](t, body)
			return true, nil
		case http.StatusAccepted:
			return false, nil
		}
		return false, fmt.Errorf("GET %s: %d %s", loc, resp.StatusCode, body)
	}, "the result of the process whose start answered late")
	require.Equal(t, "DONE", got.Status)
	require.Contains(t, string(got.Payload), `"accountId"`)

	// A retry of the start returns the stored result and starts nothing: the id (with "_",
	// which the engine's GET query syntax cannot carry) has exactly one instance.
	resp, body = d.do(t, http.MethodPost, "/process/onboard-user/start", req)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.JSONEq(t, string(got.Payload), string(decode[result](t, body).Payload))
	require.Len(t, instancesOf(t, e, "onboard-user", "slow_start-1"), 1)
}

// TestE2ETakesOverAnInterruptedStart: another replica registered the start (its row is PENDING
// under claim 1) and died before calling the engine. A retry of the start waits out the
// claim's lease, finds no instance in the engine, takes the start over and answers the result.
func TestE2ETakesOverAnInterruptedStart(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := needEngine(t)
	other := d.store(t)
	_, created, err := other.BeginStart(context.Background(), "orphan_1", "onboard-user", 800*time.Millisecond)
	require.NoError(t, err)
	require.True(t, created)

	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start",
		`{"correlationId": "orphan_1", "variables": {"email": "o@example.com", "name": "Orphan"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	res := decode[result](t, body)
	require.Equal(t, "DONE", res.Status)
	ids := instancesOf(t, e, "onboard-user", "orphan_1")
	require.Len(t, ids, 1)
	require.Equal(t, ids[0], res.ProcessInstanceID)
	st, err := other.ReadStart(context.Background(), "orphan_1")
	require.NoError(t, err)
	require.Equal(t, int64(2), st.Attempt, "the start was taken over once")
	require.Equal(t, ids[0], st.ProcessInstanceID)

	// GET …/result shows the instance too.
	code, got := d.get(t, "/process/orphan_1/result")
	require.Equal(t, http.StatusOK, code, got)
	require.Equal(t, ids[0], decode[result](t, []byte(got)).ProcessInstanceID)
}

// TestE2EFindsTheInstanceOfAnInterruptedStart: the other replica's start reached the engine but
// the replica died before recording the instance. A retry finds the instance (by the
// correlation variable, running or ended), records it and answers its result without
// starting a second one.
func TestE2EFindsTheInstanceOfAnInterruptedStart(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := startEngine(t)
	other := d.store(t)
	_, created, err := other.BeginStart(context.Background(), "found_1", slowKey, 800*time.Millisecond)
	require.NoError(t, err)
	require.True(t, created)
	instance := e.StartProcess(t, slowKey, topics.Variables{"correlationId": topics.StringVar("found_1")})

	done := make(chan struct{})
	var resp *http.Response
	var body []byte
	go func() {
		defer close(done)
		resp, body = d.do(t, http.MethodPost, "/process/"+slowKey+"/start", `{"correlationId": "found_1"}`)
	}()
	enginetest.Eventually(t, 15*time.Second, func() (bool, error) {
		st, err := other.ReadStart(context.Background(), "found_1")
		return err == nil && st.ProcessInstanceID == instance, err
	}, "the retry recorded the instance it found")
	completeUserTask(t, "found_1", "found")
	<-done
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	res := decode[result](t, body)
	require.JSONEq(t, `{"greeting":"found"}`, string(res.Payload))
	require.Equal(t, instance, res.ProcessInstanceID)
	require.Equal(t, []string{instance}, instancesOf(t, e, slowKey, "found_1"))
}

// TestE2EConcurrentDuplicateStarts: many concurrent starts of one id start one instance and
// all get its result.
func TestE2EConcurrentDuplicateStarts(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := needEngine(t)
	const ids, copies = 5, 4
	var wg sync.WaitGroup
	type answer struct {
		code int
		res  result
	}
	answers := make([][]answer, ids)
	for i := range ids {
		answers[i] = make([]answer, copies)
		for j := range copies {
			wg.Go(func() {
				resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start",
					fmt.Sprintf(`{"correlationId": "dup-%d", "variables": {"email": "d%d@example.com", "name": "D"}}`, i, i))
				answers[i][j] = answer{resp.StatusCode, decode[result](t, body)}
			})
		}
	}
	wg.Wait()
	for i := range ids {
		id := fmt.Sprintf("dup-%d", i)
		instances := instancesOf(t, e, "onboard-user", id)
		require.Len(t, instances, 1, "%s: one instance for %d concurrent starts", id, copies)
		for _, a := range answers[i] {
			require.Equal(t, http.StatusOK, a.code, "%s", id)
			require.JSONEq(t, string(answers[i][0].res.Payload), string(a.res.Payload), "%s: every start answers the one result", id)
		}
	}
}

// TestE2EStartWithAnIdOfAnotherProcessConflicts: a correlation id belongs to the process it
// was started for; reusing it for another answers 409 and starts nothing.
func TestE2EStartWithAnIdOfAnotherProcessConflicts(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := needEngine(t)
	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"correlationId": "mine-1", "email": "m@example.com", "name": "M"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	resp, body = d.do(t, http.MethodPost, "/process/"+slowKey+"/start", `{"correlationId": "mine-1"}`)
	p := requireProblem(t, resp, body, http.StatusConflict, "correlation-id-conflict", "onboard-user", slowKey)
	require.Equal(t, "onboard-user", p["processKey"])
	require.Empty(t, instancesOf(t, e, slowKey, "mine-1"))
}
