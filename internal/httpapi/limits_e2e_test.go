package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// TestE2EEngineStorageLimits pins the limits the API checks to what the real engine does:
// at each limit a start succeeds, one character past it the engine answers 500 (its
// persistence layer fails). If a Camunda upgrade changes a column, this test says so.
func TestE2EEngineStorageLimits(t *testing.T) {
	e := needEngine(t)
	str := func(s string) enginetest.Variable { return enginetest.Variable{Value: s, Type: "String"} }
	emoji := "\U0001F600"
	cases := []struct {
		name string
		bk   string
		vars map[string]enginetest.Variable
		ok   bool
	}{
		{"string at the limit", "", map[string]enginetest.Variable{"s": str(strings.Repeat("x", httpapi.MaxStringVariable))}, true},
		{"string past the limit", "", map[string]enginetest.Variable{"s": str(strings.Repeat("x", httpapi.MaxStringVariable+1))}, false},
		{"string counted in UTF-16 units", "", map[string]enginetest.Variable{"s": str(strings.Repeat(emoji, httpapi.MaxStringVariable/2) + "x")}, false},
		{"name at the limit", "", map[string]enginetest.Variable{strings.Repeat("n", httpapi.MaxVariableName): str("x")}, true},
		{"name past the limit", "", map[string]enginetest.Variable{strings.Repeat("n", httpapi.MaxVariableName+1): str("x")}, false},
		{"business key at the limit", strings.Repeat("b", httpapi.MaxBusinessKey), nil, true},
		{"business key past the limit", strings.Repeat("b", httpapi.MaxBusinessKey+1), nil, false},
		{"Json is not limited", "", map[string]enginetest.Variable{"j": {Value: `{"t":"` + strings.Repeat("x", 20000) + `"}`, Type: "Json"}}, true},
	}
	for _, tc := range cases {
		_, err := e.Engine.StartProcess(context.Background(), slowKey, tc.bk, tc.vars)
		if tc.ok {
			require.NoError(t, err, tc.name)
			continue
		}
		var ae *enginetest.APIError
		require.True(t, errors.As(err, &ae), "%s: want the engine's error, got %v", tc.name, err)
		require.Equal(t, http.StatusInternalServerError, ae.StatusCode, "%s: %v", tc.name, err)
	}
}

// TestE2EClientMistakesAre400WithNoRowAndNoInstance: what the engine would refuse with a 500,
// and bodies that are not exactly one JSON object, answer 400 (or 415) before anything is
// written: no process_store row, no process instance.
func TestE2EClientMistakesAre400WithNoRowAndNoInstance(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true, maxBodyBytes: 64 << 10})
	e := needEngine(t)
	store := d.store(t)
	rows := func() int {
		rs, _, err := store.List(context.Background(), repo.ListOptions{Limit: repo.MaxListLimit})
		require.NoError(t, err)
		return len(rs)
	}
	instances := func() int {
		var c struct{ Count int }
		require.NoError(t, e.Do(context.Background(), http.MethodGet, "/history/process-instance/count?processDefinitionKey=onboard-user", nil, &c))
		return c.Count
	}
	rows0, inst0 := rows(), instances()

	cases := []struct {
		name, contentType, body string
		status                  int
		want                    []string
	}{
		{"long string", "application/json", `{"variables":{"email":"a@b.c","name":"` + strings.Repeat("x", 4001) + `"}}`,
			http.StatusBadRequest, []string{`variable "name"`, "4001 characters", "at most 4000"}},
		{"long name", "application/json", `{"variables":{"email":"a@b.c","name":"A","` + strings.Repeat("n", 256) + `":1}}`,
			http.StatusBadRequest, []string{"variable name", "256 characters", "at most 255"}},
		{"long business key", "application/json", `{"businessKey":"` + strings.Repeat("b", 256) + `","variables":{"email":"a@b.c","name":"A"}}`,
			http.StatusBadRequest, []string{"businessKey is 256 characters long"}},
		{"trailing garbage", "application/json", `{"variables":{"email":"a@b.c","name":"A"}}}}`,
			http.StatusBadRequest, []string{"single JSON document"}},
		{"form body", "application/x-www-form-urlencoded", `email=a@b.c`,
			http.StatusUnsupportedMediaType, []string{"not JSON", "Content-Type: application/json"}},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(http.MethodPost, d.base+"/process/onboard-user/start", strings.NewReader(tc.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := client.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, tc.status, resp.StatusCode, "%s: %s", tc.name, b)
		detail := fmt.Sprint(decode[map[string]any](t, b)["detail"])
		for _, w := range tc.want {
			require.Contains(t, detail, w, tc.name)
		}
	}
	require.Equal(t, rows0, rows(), "no process_store row was written")
	require.Equal(t, inst0, instances(), "no process instance was started")
}

// TestE2ETenantIsolation: with camunda.tenantId the daemon deploys its models for that
// tenant, starts them as that tenant's (the engine finds no definition by key alone then),
// and its workers fetch that tenant's tasks: a start answers DONE.
func TestE2ETenantIsolation(t *testing.T) {
	e := needEngine(t)
	d := startDaemon(t, daemonOpts{tenantID: "team-a"})
	enginetest.Eventually(t, 60*time.Second, func() (bool, error) {
		var defs []struct{ TenantID string }
		err := e.Do(context.Background(), http.MethodGet, "/process-definition?key=onboard-user&tenantIdIn=team-a", nil, &defs)
		return len(defs) == 1 && defs[0].TenantID == "team-a", err
	}, "onboard-user deployed for tenant team-a")

	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": "t@example.com", "name": "T"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	r := decode[result](t, body)
	require.Equal(t, "DONE", r.Status)
	var inst []struct{ TenantID string }
	require.NoError(t, e.Do(context.Background(), http.MethodGet, "/history/process-instance?processDefinitionKey=onboard-user&variables=correlationId_eq_"+r.CorrelationID, nil, &inst))
	require.Len(t, inst, 1)
	require.Equal(t, "team-a", inst[0].TenantID)
}
