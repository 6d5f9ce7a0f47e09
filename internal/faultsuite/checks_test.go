package faultsuite_test

// The checks after each scenario.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
)

const (
	processKey    = "onboard-user"
	resultTopic   = "onboard-user/prepare-response"
	checkDeadline = 60 * time.Second
)

// check runs every post-check on the outcomes of one scenario:
//   - every request got its final answer: 200, or 422 for the requests built to fail;
//   - every id has one row, DONE for a 200 and ERROR for a 422;
//   - every id has exactly one process instance, ended, with exactly one successful result
//     task (prepare-response);
//   - no incident was ever raised, and no external task is left locked.
func (h *harness) check(t *testing.T, outs []outcome) {
	t.Helper()
	if len(outs) == 0 {
		t.Fatal("the scenario sent no request")
	}
	ids := make([]string, len(outs))
	for i, o := range outs {
		ids[i] = o.id
		want := http.StatusOK
		if !o.valid {
			want = http.StatusUnprocessableEntity
		}
		if o.err != "" || o.code != want {
			t.Errorf("%s: final answer %d (want %d) after %d attempts %v: %s", o.id, o.code, want, o.attempts, o.codes, o.err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Rows.
	rows, err := h.admin.Query(`SELECT correlation_id, status FROM process_store WHERE correlation_id = ANY($1)`, ids)
	if err != nil {
		t.Fatalf("read rows: %v", err)
	}
	status := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			t.Fatal(err)
		}
		status[id] = st
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		want := "DONE"
		if !o.valid {
			want = "ERROR"
		}
		if status[o.id] != want {
			t.Errorf("%s: row %q, want %s", o.id, status[o.id], want)
		}
	}

	// Every instance ends (the result task reports to the engine after the row is written).
	ctx := context.Background()
	e := h.engine
	enginetest.Eventually(t, checkDeadline, func() (bool, error) {
		var c struct{ Count int }
		err := e.Do(ctx, http.MethodGet, "/history/process-instance/count?unfinished=true&processDefinitionKey="+processKey, nil, &c)
		return c.Count == 0, err
	}, "every process instance ended")

	// One instance per id.
	instances := map[string][]string{} // correlation id -> instances
	byInstance := map[string]string{}
	var vars []struct {
		Value             any    `json:"value"`
		ProcessInstanceID string `json:"processInstanceId"`
	}
	page(t, func(first, max int) int {
		vars = vars[:0]
		q := map[string]any{"variableName": "correlationId", "processDefinitionKey": processKey}
		if err := e.Do(ctx, http.MethodPost, fmt.Sprintf("/history/variable-instance?firstResult=%d&maxResults=%d", first, max), q, &vars); err != nil {
			t.Fatalf("history variables: %v", err)
		}
		for _, v := range vars {
			id, _ := v.Value.(string)
			instances[id] = append(instances[id], v.ProcessInstanceID)
			byInstance[v.ProcessInstanceID] = id
		}
		return len(vars)
	})
	// One successful result task per instance.
	success := map[string]int{}
	var logs []struct {
		ProcessInstanceID string `json:"processInstanceId"`
	}
	page(t, func(first, max int) int {
		logs = logs[:0]
		q := url.Values{"topicName": {resultTopic}, "successLog": {"true"}, "processDefinitionKey": {processKey},
			"firstResult": {fmt.Sprint(first)}, "maxResults": {fmt.Sprint(max)}}
		if err := e.Do(ctx, http.MethodGet, "/history/external-task-log?"+q.Encode(), nil, &logs); err != nil {
			t.Fatalf("external task log: %v", err)
		}
		for _, l := range logs {
			success[l.ProcessInstanceID]++
		}
		return len(logs)
	})
	for _, id := range ids {
		got := instances[id]
		if len(got) != 1 {
			t.Errorf("%s: %d process instances %v, want exactly 1", id, len(got), got)
			continue
		}
		if n := success[got[0]]; n != 1 {
			t.Errorf("%s: instance %s has %d successful result tasks, want 1", id, got[0], n)
		}
	}

	// No incident, ever; no task locked.
	var c struct{ Count int }
	if err := e.Do(ctx, http.MethodGet, "/history/incident/count", nil, &c); err != nil || c.Count != 0 {
		var inc []map[string]any
		_ = e.Do(ctx, http.MethodGet, "/history/incident?maxResults=5", nil, &inc)
		t.Errorf("incidents raised: %d (%v): %v", c.Count, err, inc)
	}
	if n, err := e.CountExternalTasks(ctx, url.Values{"locked": {"true"}}); err != nil || n != 0 {
		t.Errorf("external tasks still locked: %d (%v)", n, err)
	}
	t.Logf("checked %d requests: answers, rows, one instance and one result task each, no incident, no lock", len(outs))
}

// page calls fetch with growing offsets until a page comes back short.
func page(t interface{ Fatalf(string, ...any) }, fetch func(first, max int) int) {
	const size = 500
	for first := 0; ; first += size {
		if n := fetch(first, size); n < size {
			return
		}
		if first > 1_000_000 {
			t.Fatalf("paging ran away")
		}
	}
}
