package enginetest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
)

const smokeBPMN = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="enginetest-smoke-definitions" targetNamespace="http://camunda-waitroom/enginetest">
  <bpmn:process id="enginetest-smoke" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="toTask" sourceRef="start" targetRef="smokeTask"/>
    <bpmn:serviceTask id="smokeTask" camunda:type="external" camunda:topic="smoke"/>
    <bpmn:sequenceFlow id="toEnd" sourceRef="smokeTask" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
`

type lockedTask struct {
	ID          string                         `json:"id"`
	WorkerID    string                         `json:"workerId"`
	TopicName   string                         `json:"topicName"`
	BusinessKey string                         `json:"businessKey"`
	Variables   map[string]enginetest.Variable `json:"variables"`
}

func fetchAndLock(ctx context.Context, e *enginetest.Engine, workerID, businessKey string) ([]lockedTask, error) {
	var locked []lockedTask
	err := e.Do(ctx, http.MethodPost, "/external-task/fetchAndLock", map[string]any{
		"workerId": workerID,
		"maxTasks": 10,
		"topics": []map[string]any{{
			"topicName":    "smoke",
			"lockDuration": 60000,
			"businessKey":  businessKey, // other tests may share an external engine
			"variables":    []string{"payload", "doc"},
		}},
	}, &locked)
	return locked, err
}

func TestSmoke(t *testing.T) {
	e := enginetest.StartT(t, enginetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The engine started is the kind asked for: its /version is that engine's.
	version, err := e.Version(ctx)
	require.NoError(t, err)
	if !e.External() {
		want := map[string]string{enginetest.Camunda: "7.24.0", enginetest.Operaton: "1.0.3"}
		require.Equal(t, want[e.Kind()], version, "GET /version of the %s engine", e.Kind())
	}

	files := map[string][]byte{"enginetest-smoke.bpmn": []byte(smokeBPMN)}
	depID, err := e.Deploy(ctx, "enginetest-smoke", files)
	require.NoError(t, err)
	require.NotEmpty(t, depID)
	_, err = e.Deploy(ctx, "enginetest-smoke", files) // unchanged: deploy-changed-only
	require.NoError(t, err)

	// An external task without a topic: the engine's parser refuses it with 400.
	broken := strings.Replace(smokeBPMN, ` camunda:topic="smoke"`, "", 1)
	_, err = e.Deploy(ctx, "enginetest-broken", map[string][]byte{"broken.bpmn": []byte(broken)})
	require.Error(t, err)
	require.Equal(t, http.StatusBadRequest, enginetest.StatusCode(err), "%v", err)
	require.Contains(t, err.Error(), "ParseException", "the engine's own error is part of the error")

	const payload = `{"order":{"id":42,"items":["a","b"]},"note":"ünïcode"}`
	const doc = `<order id="42"><item>a</item><item>b</item></order>`
	bk := fmt.Sprintf("smoke-%d", time.Now().UnixNano())
	pi, err := e.StartProcess(ctx, "enginetest-smoke", bk, map[string]enginetest.Variable{
		"payload": {Value: payload, Type: "Json"},
		"doc":     {Value: doc, Type: "Xml"},
	})
	require.NoError(t, err)
	require.NotEmpty(t, pi)

	tasks, err := e.ExternalTasks(ctx, url.Values{"processInstanceId": {pi}})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	task := tasks[0]
	require.Equal(t, "smoke", task.TopicName)
	require.Equal(t, "smokeTask", task.ActivityID)
	require.Equal(t, pi, task.ProcessInstanceID)
	require.Empty(t, task.WorkerID)
	require.Nil(t, task.Retries)

	n, err := e.CountExternalTasks(ctx, url.Values{"processInstanceId": {pi}, "topicName": {"smoke"}})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	locked, err := fetchAndLock(ctx, e, "enginetest-worker", bk)
	require.NoError(t, err)
	require.Len(t, locked, 1)
	require.Equal(t, task.ID, locked[0].ID)
	require.Equal(t, bk, locked[0].BusinessKey)
	got := locked[0].Variables["payload"]
	require.Equal(t, "Json", got.Type)
	require.IsType(t, "", got.Value, "a Json value arrives as its JSON text")
	require.JSONEq(t, payload, got.Value.(string))
	gotDoc := locked[0].Variables["doc"]
	require.Equal(t, "Xml", gotDoc.Type, "the engine has the Spin XML data format")
	require.Equal(t, doc, gotDoc.Value)

	tasks, err = e.ExternalTasks(ctx, url.Values{"processInstanceId": {pi}})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.Equal(t, "enginetest-worker", tasks[0].WorkerID)
	lockUntil, err := enginetest.ParseTime(tasks[0].LockExpirationTime)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Minute), lockUntil, 30*time.Second)

	// Another worker gets nothing: the task is locked.
	again, err := fetchAndLock(ctx, e, "other-worker", bk)
	require.NoError(t, err)
	require.Empty(t, again)

	// Completing with the wrong worker id is refused with the engine's message.
	err = e.Do(ctx, http.MethodPost, "/external-task/"+task.ID+"/complete", map[string]any{"workerId": "other-worker"}, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusBadRequest, enginetest.StatusCode(err), "%v", err)
	require.Contains(t, err.Error(), "enginetest-worker")

	ended, err := e.ProcessInstanceEnded(ctx, pi)
	require.NoError(t, err)
	require.False(t, ended)

	err = e.Do(ctx, http.MethodPost, "/external-task/"+task.ID+"/complete", map[string]any{
		"workerId":  "enginetest-worker",
		"variables": map[string]enginetest.Variable{"result": {Value: `{"ok":true}`, Type: "Json"}, "count": {Value: 3, Type: "Integer"}},
	}, nil)
	require.NoError(t, err)

	enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
		return e.ProcessInstanceEnded(ctx, pi)
	}, "process instance ends after the external task is completed")
	state, err := e.ProcessInstanceState(ctx, pi)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", state)

	vars, err := e.Variables(ctx, pi)
	require.NoError(t, err)
	require.Equal(t, "Json", vars["payload"].Type)
	require.JSONEq(t, payload, vars["payload"].Value.(string))
	require.JSONEq(t, `{"ok":true}`, vars["result"].Value.(string))
	require.Equal(t, "Integer", vars["count"].Type)
	require.EqualValues(t, 3, vars["count"].Value)

	incidents, err := e.Incidents(ctx, pi)
	require.NoError(t, err)
	require.Empty(t, incidents)

	ended, err = e.ProcessInstanceEnded(ctx, "no-such-instance")
	require.NoError(t, err)
	require.True(t, ended, "an unknown instance counts as ended (404)")
}

func TestFailureWithoutRetriesCreatesIncident(t *testing.T) {
	e := enginetest.StartT(t, enginetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	_, err := e.Deploy(ctx, "enginetest-smoke", map[string][]byte{"enginetest-smoke.bpmn": []byte(smokeBPMN)})
	require.NoError(t, err)
	bk := fmt.Sprintf("incident-%d", time.Now().UnixNano())
	pi, err := e.StartProcess(ctx, "enginetest-smoke", bk, nil)
	require.NoError(t, err)
	locked, err := fetchAndLock(ctx, e, "enginetest-worker", bk)
	require.NoError(t, err)
	require.Len(t, locked, 1)

	// retries omitted = 0: the engine creates an incident.
	err = e.Do(ctx, http.MethodPost, "/external-task/"+locked[0].ID+"/failure", map[string]any{
		"workerId":     "enginetest-worker",
		"errorMessage": "boom",
	}, nil)
	require.NoError(t, err)

	enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
		inc, err := e.Incidents(ctx, pi)
		return len(inc) == 1, err
	}, "incident appears")
	inc, err := e.Incidents(ctx, pi)
	require.NoError(t, err)
	require.Equal(t, "failedExternalTask", inc[0].IncidentType)
	require.Equal(t, locked[0].ID, inc[0].Configuration)
	require.Equal(t, "boom", inc[0].IncidentMessage)

	tasks, err := e.ExternalTasks(ctx, url.Values{"processInstanceId": {pi}})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.NotNil(t, tasks[0].Retries)
	require.Equal(t, 0, *tasks[0].Retries)
	require.Equal(t, "boom", tasks[0].ErrorMessage)
}

func TestBasicAuthAndRestart(t *testing.T) {
	e := enginetest.StartT(t, enginetest.Options{BasicAuth: "enginetest:s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	status := func(user, pass string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/external-task/count", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, status("", ""), "no credentials")
	require.Equal(t, http.StatusUnauthorized, status("enginetest", "wrong"), "wrong password")
	require.Equal(t, http.StatusOK, status("enginetest", "s3cret"), "right credentials")

	// The helpers send the credentials.
	_, err := e.Deploy(ctx, "enginetest-smoke", map[string][]byte{"enginetest-smoke.bpmn": []byte(smokeBPMN)})
	require.NoError(t, err)
	_, err = e.StartProcess(ctx, "enginetest-smoke", "", nil)
	require.NoError(t, err)
	n, err := e.CountExternalTasks(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// Restart: same port and URL, in-memory state gone, authentication still on.
	base, port := e.BaseURL, e.Port()
	start := time.Now()
	require.NoError(t, e.Restart(ctx))
	t.Logf("restart took %s", time.Since(start).Round(time.Millisecond))
	require.Equal(t, base, e.BaseURL)
	require.Equal(t, port, e.Port())
	n, err = e.CountExternalTasks(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	require.Equal(t, http.StatusUnauthorized, status("", ""))

	// Kill, then the engine is unreachable until StartAgain.
	e.Kill()
	_, err = e.CountExternalTasks(ctx, nil)
	require.Error(t, err)
	require.NoError(t, e.StartAgain(ctx))
	require.Equal(t, http.StatusOK, status("enginetest", "s3cret"))
	require.NotEmpty(t, e.LogTail(5))
}
