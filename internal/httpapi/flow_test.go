package httpapi

// Unit tests of the API's answers on fakes of its small interfaces (Waitroom, StartStore,
// Starter, readiness checks): the start flow's mapping of every engine outcome to the row
// and the HTTP answer, takeovers of interrupted starts, result/complete/fail, the request
// metrics. No engine, no database: the same flows against real ones are the end-to-end tests
// (daemon_e2e_test.go, start_e2e_test.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// fakeStore is the start protocol's store in memory, with the guarded claim of the real ones
// and an error to inject into every call.
type fakeStore struct {
	mu       sync.Mutex
	rows     map[string]repo.StartState
	fail     error    // when set, every call returns it
	claimed  []int64  // attempts ClaimStart was called with
	released []string // ids ReleaseStart was called for
}

func newFakeStore() *fakeStore { return &fakeStore{rows: map[string]repo.StartState{}} }

func (f *fakeStore) put(st repo.StartState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows[st.CorrelationID] = st
}

func (f *fakeStore) row(id string) (repo.StartState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.rows[id]
	return st, ok
}

func (f *fakeStore) Find(ctx context.Context, id string) (repo.Record, error) {
	st, err := f.ReadStart(ctx, id)
	return st.Record, err
}

func (f *fakeStore) BeginStart(_ context.Context, id, key string, lease time.Duration) (repo.StartState, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return repo.StartState{}, false, f.fail
	}
	if st, ok := f.rows[id]; ok {
		return st, false, nil
	}
	st := repo.StartState{Record: repo.Record{CorrelationID: id, Status: repo.StatusPending}, ProcessKey: key, Attempt: 1, LeaseLeft: lease}
	f.rows[id] = st
	return st, true, nil
}

func (f *fakeStore) ReadStart(_ context.Context, id string) (repo.StartState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return repo.StartState{}, f.fail
	}
	st, ok := f.rows[id]
	if !ok {
		return repo.StartState{}, repo.ErrNotFound
	}
	return st, nil
}

func (f *fakeStore) ClaimStart(_ context.Context, id string, attempt int64, lease time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claimed = append(f.claimed, attempt)
	st, ok := f.rows[id]
	if !ok || st.Attempt != attempt || st.Status != repo.StatusPending || st.ProcessInstanceID != "" {
		return false, nil
	}
	st.Attempt++
	st.LeaseLeft = lease
	f.rows[id] = st
	return true, nil
}

func (f *fakeStore) ReleaseStart(_ context.Context, id string, _ int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, id)
	return true, nil
}

func (f *fakeStore) SetInstance(_ context.Context, id, instanceID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.rows[id]
	if st.ProcessInstanceID == "" {
		st.ProcessInstanceID = instanceID
		f.rows[id] = st
	}
	return st.ProcessInstanceID, nil
}

// finish moves a PENDING row to status with body, as the worker or Complete/Fail would.
func (f *fakeStore) finish(id string, status repo.Status, body json.RawMessage) (repo.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return repo.NotFound, f.fail
	}
	st, ok := f.rows[id]
	switch {
	case !ok:
		return repo.NotFound, nil
	case st.Status.Finished():
		return repo.AlreadyFinished, nil
	}
	st.Status = status
	if status == repo.StatusDone {
		st.Payload = body
	} else {
		st.Error = body
	}
	f.rows[id] = st
	return repo.Transitioned, nil
}

// fakeRoom is a Waitroom on a fakeStore: a wait returns the row's result once it is
// finished (polling the fake every millisecond), or its context's error.
type fakeRoom struct {
	store  *fakeStore
	full   bool            // Reserve and Wait answer ErrTooManyWaiters
	onWait func(id string) // called as a wait begins (the worker finishing the process meanwhile)
}

func (r *fakeRoom) Reserve() (Reservation, error) {
	if r.full {
		return nil, waitroom.ErrTooManyWaiters
	}
	return fakeSlot{r}, nil
}

type fakeSlot struct{ r *fakeRoom }

func (s fakeSlot) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	return s.r.Wait(ctx, id)
}
func (fakeSlot) Release() {}

func (r *fakeRoom) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	if r.full {
		return nil, waitroom.ErrTooManyWaiters
	}
	if r.onWait != nil {
		r.onWait(id)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if st, ok := r.store.row(id); ok && st.Status.Finished() {
			if st.Status == repo.StatusError {
				return nil, &waitroom.ProcessError{CorrelationID: id, Body: st.Error}
			}
			return st.Payload, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func (r *fakeRoom) Complete(_ context.Context, id string, payload json.RawMessage) (repo.Outcome, error) {
	return r.store.finish(id, repo.StatusDone, payload)
}

func (r *fakeRoom) Fail(_ context.Context, id string, body json.RawMessage) (repo.Outcome, error) {
	return r.store.finish(id, repo.StatusError, body)
}

// fakeStarter answers starts and instance queries as scripted.
type fakeStarter struct {
	mu     sync.Mutex
	start  func(id string) (string, error) // by correlation id
	find   func(id string) ([]string, error)
	starts []string // correlation ids started
}

func (f *fakeStarter) StartProcess(_ context.Context, _, _ string, vars map[string]Variable) (string, error) {
	id, _ := vars[CorrelationVariableDefault].Text()
	f.mu.Lock()
	f.starts = append(f.starts, id)
	start := f.start
	f.mu.Unlock()
	if start == nil {
		return "instance-" + id, nil
	}
	return start(id)
}

func (f *fakeStarter) FindInstances(_ context.Context, _, _, value string) ([]string, error) {
	if f.find == nil {
		return nil, nil
	}
	return f.find(value)
}

func (f *fakeStarter) started() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.starts...)
}

// flowAPI is a Server on the fakes, with its own metrics registry.
type flowAPI struct {
	h       http.Handler
	store   *fakeStore
	room    *fakeRoom
	starter *fakeStarter
	reg     *prometheus.Registry
}

func newFlowAPI(t *testing.T, mod func(*Config)) *flowAPI {
	t.Helper()
	store := newFakeStore()
	a := &flowAPI{store: store, room: &fakeRoom{store: store}, starter: &fakeStarter{}, reg: prometheus.NewRegistry()}
	cfg := Config{Waitroom: a.room, Store: store, Starter: a.starter, Startable: []string{"p", "q"},
		WaitTimeout: 300 * time.Millisecond, StartTimeout: time.Second, Registerer: a.reg, Gatherer: a.reg}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	a.h = s
	return a
}

func (a *flowAPI) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// starts is camunda_waitroom_starts_total{outcome}.
func (a *flowAPI) starts(t *testing.T, outcome string) float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "camunda_waitroom_starts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no camunda_waitroom_starts_total{outcome=%q}", outcome)
	return 0
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), rec.Body.String())
	return m
}

// TestStartAnswersEveryEngineOutcome: for each answer the engine can give a start, the row
// ends as the protocol says (ERROR only when the process certainly did not start, PENDING
// otherwise, the claim released only when nothing was sent), the client gets the documented
// status and problem type, and the outcome is counted.
func TestStartAnswersEveryEngineOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		start    func(a *flowAPI, id string) (string, error)
		status   int
		typ      string // problem type; "" for a result body
		row      repo.Status
		released bool
		outcome  string
	}{
		{name: "started, process finishes DONE", status: http.StatusOK, row: repo.StatusDone, outcome: startStarted,
			start: func(a *flowAPI, id string) (string, error) {
				_, err := a.store.finish(id, repo.StatusDone, json.RawMessage(`{"accountId":"acc-1"}`))
				return "inst-1", err
			}},
		{name: "started, process finishes ERROR", status: http.StatusUnprocessableEntity, typ: "process-error", row: repo.StatusError, outcome: startStarted,
			start: func(a *flowAPI, id string) (string, error) {
				_, err := a.store.finish(id, repo.StatusError, json.RawMessage(`{"error":"invalid-input"}`))
				return "inst-1", err
			}},
		{name: "started, still running at the end of the wait", status: http.StatusAccepted, row: repo.StatusPending, outcome: startStarted,
			start: func(*flowAPI, string) (string, error) { return "inst-1", nil }},
		{name: "definition not deployed", status: http.StatusBadGateway, typ: "process-not-deployed", row: repo.StatusError, outcome: startNotDeployed,
			start: func(*flowAPI, string) (string, error) { return "", fmt.Errorf("start p: %w", ErrProcessNotFound) }},
		{name: "start refused", status: http.StatusBadRequest, typ: "start-rejected", row: repo.StatusError, outcome: startRejected,
			start: func(*flowAPI, string) (string, error) { return "", fmt.Errorf("start p: %w", ErrStartRejected) }},
		{name: "not sent", status: http.StatusServiceUnavailable, typ: "engine-unavailable", row: repo.StatusPending, released: true, outcome: startNotSent,
			start: func(*flowAPI, string) (string, error) { return "", fmt.Errorf("start p: %w", ErrStartNotSent) }},
		{name: "engine error", status: http.StatusBadGateway, typ: "engine-error", row: repo.StatusPending, outcome: startUncertain,
			start: func(*flowAPI, string) (string, error) { return "", fmt.Errorf("start p: %w", ErrEngineError) }},
		{name: "no answer", status: http.StatusServiceUnavailable, typ: "engine-unavailable", row: repo.StatusPending, outcome: startUncertain,
			start: func(*flowAPI, string) (string, error) { return "", fmt.Errorf("start p: %w", ErrEngineUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newFlowAPI(t, nil)
			a.starter.start = func(id string) (string, error) { return tc.start(a, id) }
			rec := a.do(http.MethodPost, "/process/p/start", `{"correlationId":"c-1","variables":{"email":"ada@example.com"}}`)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			body := decode(t, rec)
			if tc.typ != "" {
				require.Equal(t, problemTypeBase+tc.typ, body["type"], rec.Body.String())
			}
			require.Equal(t, "c-1", body["correlationId"])
			require.Equal(t, []string{"c-1"}, a.starter.started(), "exactly one start")
			st, ok := a.store.row("c-1")
			require.True(t, ok)
			require.Equal(t, tc.row, st.Status)
			if tc.row == repo.StatusPending {
				require.Equal(t, "/process/c-1/result", rec.Header().Get("Location"), "a PENDING row's answer says where the result will be")
			}
			if tc.status == http.StatusOK || tc.status == http.StatusAccepted {
				require.Equal(t, "inst-1", body["processInstanceId"])
				require.Equal(t, "inst-1", st.ProcessInstanceID, "the instance is recorded on the row")
			}
			if tc.typ == "process-not-deployed" || tc.typ == "start-rejected" {
				var eb map[string]string
				require.NoError(t, json.Unmarshal(st.Error, &eb))
				require.Equal(t, tc.typ, eb["error"], "the row's error body says why nothing started")
			}
			require.Equal(t, tc.released, len(a.store.released) == 1, "the claim is released only when nothing reached the engine")
			require.EqualValues(t, 1, a.starts(t, tc.outcome))
		})
	}
}

// TestStartWithAnExistingRow: a start whose id has a row starts nothing: a finished row is
// answered from the row, a row of another process is a conflict, and a running one is waited
// for.
func TestStartWithAnExistingRow(t *testing.T) {
	t.Parallel()
	a := newFlowAPI(t, nil)
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "done-1", Status: repo.StatusDone, Payload: json.RawMessage(`{"n":1}`)},
		ProcessKey: "p", ProcessInstanceID: "inst-9"})
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "other-1", Status: repo.StatusPending}, ProcessKey: "q", Attempt: 1, LeaseLeft: time.Minute})
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "run-1", Status: repo.StatusPending}, ProcessKey: "p",
		ProcessInstanceID: "inst-7", Attempt: 1, LeaseLeft: time.Minute})

	rec := a.do(http.MethodPost, "/process/p/start", `{"correlationId":"done-1"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"correlationId":"done-1","status":"DONE","payload":{"n":1},"processInstanceId":"inst-9"}`, rec.Body.String())

	p := problem(t, a.do(http.MethodPost, "/process/p/start", `{"correlationId":"other-1"}`), http.StatusConflict, "correlation-id-conflict")
	require.Equal(t, "q", p["processKey"])

	a.room.onWait = func(id string) { // the worker finishes the process while the start waits
		_, _ = a.store.finish(id, repo.StatusDone, json.RawMessage(`{"late":true}`))
	}
	rec = a.do(http.MethodPost, "/process/p/start", `{"correlationId":"run-1"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"correlationId":"run-1","status":"DONE","payload":{"late":true},"processInstanceId":"inst-7"}`, rec.Body.String())

	require.Empty(t, a.starter.started(), "no start for an id that has a row")
	require.EqualValues(t, 3, a.starts(t, startExisting))
}

// TestStartRecoversAnInterruptedStart: a PENDING row without an instance whose claim ran
// out is recovered by the retry: an instance the engine has is recorded, otherwise the start
// is taken over under the next claim; an engine that cannot be asked answers 503 and leaves
// the row.
func TestStartRecoversAnInterruptedStart(t *testing.T) {
	t.Parallel()
	interrupted := func(id string) repo.StartState {
		return repo.StartState{Record: repo.Record{CorrelationID: id, Status: repo.StatusPending}, ProcessKey: "p", Attempt: 1}
	}

	t.Run("the engine has no instance: taken over", func(t *testing.T) {
		t.Parallel()
		a := newFlowAPI(t, nil)
		a.store.put(interrupted("i-1"))
		rec := a.do(http.MethodPost, "/process/p/start", `{"correlationId":"i-1"}`)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		require.Equal(t, []string{"i-1"}, a.starter.started())
		require.Equal(t, []int64{1}, a.store.claimed, "claimed with the attempt read, as the fencing token")
		st, _ := a.store.row("i-1")
		require.EqualValues(t, 2, st.Attempt)
		require.Equal(t, "instance-i-1", st.ProcessInstanceID)
		require.EqualValues(t, 1, a.starts(t, startTakenOver))
	})
	t.Run("the engine has the instance: recorded, not started again", func(t *testing.T) {
		t.Parallel()
		a := newFlowAPI(t, nil)
		a.store.put(interrupted("i-2"))
		a.starter.find = func(string) ([]string, error) { return []string{"inst-found"}, nil }
		rec := a.do(http.MethodPost, "/process/p/start", `{"correlationId":"i-2"}`)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		require.Equal(t, "inst-found", decode(t, rec)["processInstanceId"])
		require.Empty(t, a.starter.started())
		require.Empty(t, a.store.claimed)
		require.EqualValues(t, 1, a.starts(t, startFound))
		require.EqualValues(t, 0, a.starts(t, startDuplicate))
	})
	t.Run("the engine has two instances: counted as a duplicate", func(t *testing.T) {
		t.Parallel()
		a := newFlowAPI(t, nil)
		a.store.put(interrupted("i-3"))
		a.starter.find = func(string) ([]string, error) { return []string{"inst-a", "inst-b"}, nil }
		require.Equal(t, http.StatusAccepted, a.do(http.MethodPost, "/process/p/start", `{"correlationId":"i-3"}`).Code)
		require.EqualValues(t, 1, a.starts(t, startDuplicate))
	})
	t.Run("the engine cannot be asked: 503, row left", func(t *testing.T) {
		t.Parallel()
		a := newFlowAPI(t, nil)
		a.store.put(interrupted("i-4"))
		a.starter.find = func(string) ([]string, error) { return nil, fmt.Errorf("find: %w", ErrEngineUnavailable) }
		rec := a.do(http.MethodPost, "/process/p/start", `{"correlationId":"i-4"}`)
		problem(t, rec, http.StatusServiceUnavailable, "engine-unavailable")
		require.Equal(t, "/process/i-4/result", rec.Header().Get("Location"))
		require.Empty(t, a.starter.started())
		st, _ := a.store.row("i-4")
		require.Equal(t, interrupted("i-4"), st)
	})
}

// TestStartRefusedBeforeAnythingIsWritten: a closed start gate, a full waitroom, a store
// that fails: nothing is started, and the client is told whether to retry.
func TestStartRefusedBeforeAnythingIsWritten(t *testing.T) {
	t.Parallel()
	a := newFlowAPI(t, func(c *Config) { c.StartGate = func() error { return errors.New("models not deployed") } })
	rec := a.do(http.MethodPost, "/process/p/start", `{}`)
	p := problem(t, rec, http.StatusServiceUnavailable, "not-ready")
	require.Contains(t, p["detail"], "models not deployed")
	require.Equal(t, "1", rec.Header().Get("Retry-After"))
	require.Empty(t, a.store.rows)

	a = newFlowAPI(t, nil)
	a.room.full = true
	rec = a.do(http.MethodPost, "/process/p/start", `{}`)
	problem(t, rec, http.StatusServiceUnavailable, "too-many-waiters")
	require.Empty(t, a.store.rows)
	require.EqualValues(t, 1, a.starts(t, startOverCapacity))

	a = newFlowAPI(t, nil)
	a.store.fail = errors.New("dial tcp 10.0.0.7:5432: connection refused")
	rec = a.do(http.MethodPost, "/process/p/start", `{}`)
	p = problem(t, rec, http.StatusServiceUnavailable, "store-unavailable")
	require.NotContains(t, rec.Body.String(), "10.0.0.7", "a store error is logged, not served")
	require.Contains(t, p["detail"], "register the start")

	a = newFlowAPI(t, nil)
	problem(t, a.do(http.MethodPost, "/process/zzz/start", `{}`), http.StatusNotFound, "process-not-found")
	problem(t, a.do(http.MethodPost, "/process/p/start", `{"correlationId":"a b"}`), http.StatusBadRequest, "invalid-correlation-id")
	p = problem(t, a.do(http.MethodPost, "/process/p/start", `{"correlationId":"x","variables":{"correlationId":"y"}}`), http.StatusBadRequest, "invalid-variables")
	require.Contains(t, p["detail"], "correlationId")
	require.Empty(t, a.store.rows)
	require.Empty(t, a.starter.started())
}

// TestResultRoute: GET /process/{id}/result answers the row: 200 DONE, 422 ERROR, 202
// PENDING with Location, 404 unknown; ?wait= waits up to its value (capped) for the row.
func TestResultRoute(t *testing.T) {
	t.Parallel()
	a := newFlowAPI(t, func(c *Config) { c.MaxResultWait = 200 * time.Millisecond })
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "d", Status: repo.StatusDone, Payload: json.RawMessage(`[1]`)}, ProcessInstanceID: "inst-d"})
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "e", Status: repo.StatusError, Error: json.RawMessage(`{"error":"no"}`)}})
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "p", Status: repo.StatusPending}})

	rec := a.do(http.MethodGet, "/process/d/result", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"correlationId":"d","status":"DONE","payload":[1],"processInstanceId":"inst-d"}`, rec.Body.String())

	p := problem(t, a.do(http.MethodGet, "/process/e/result", ""), http.StatusUnprocessableEntity, "process-error")
	require.Equal(t, map[string]any{"error": "no"}, p["error"])

	rec = a.do(http.MethodGet, "/process/p/result", "")
	require.Equal(t, http.StatusAccepted, rec.Code)
	require.Equal(t, "/process/p/result", rec.Header().Get("Location"))

	began := time.Now()
	rec = a.do(http.MethodGet, "/process/p/result?wait=50ms", "")
	require.Equal(t, http.StatusAccepted, rec.Code)
	require.GreaterOrEqual(t, time.Since(began), 50*time.Millisecond, "wait= waits")

	began = time.Now()
	rec = a.do(http.MethodGet, "/process/p/result?wait=1h", "")
	require.Equal(t, http.StatusAccepted, rec.Code)
	require.Less(t, time.Since(began), 10*time.Second, "wait= is capped at MaxResultWait")

	a.room.onWait = func(id string) { // the worker finishes the process while the client waits
		_, _ = a.store.finish(id, repo.StatusDone, json.RawMessage(`"ok"`))
	}
	rec = a.do(http.MethodGet, "/process/p/result?wait=1s", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"correlationId":"p","status":"DONE","payload":"ok"}`, rec.Body.String())
	a.room.onWait = nil

	problem(t, a.do(http.MethodGet, "/process/nope/result", ""), http.StatusNotFound, "unknown-correlation-id")
	p = problem(t, a.do(http.MethodGet, "/process/d/result?wait=soon", ""), http.StatusBadRequest, "invalid-wait")
	require.Contains(t, p["detail"], "at most 200ms")
	problem(t, a.do(http.MethodGet, "/process/d/result?wait=-1s", ""), http.StatusBadRequest, "invalid-wait")

	a.room.full = true
	rec = a.do(http.MethodGet, "/process/p2/result?wait=1s", "")
	problem(t, rec, http.StatusNotFound, "unknown-correlation-id")
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "p2", Status: repo.StatusPending}})
	rec = a.do(http.MethodGet, "/process/p2/result?wait=1s", "")
	problem(t, rec, http.StatusServiceUnavailable, "too-many-waiters")
	require.Equal(t, "/process/p2/result", rec.Header().Get("Location"))

	a.store.fail = errors.New("database is closed")
	problem(t, a.do(http.MethodGet, "/process/d/result", ""), http.StatusServiceUnavailable, "store-unavailable")
}

// TestCompleteAndFailRoutes: finishing a wait from outside: the first writer wins (200),
// later ones get 409, unknown ids 404, the store's verdicts on the body are the client's.
func TestCompleteAndFailRoutes(t *testing.T) {
	t.Parallel()
	a := newFlowAPI(t, nil)
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "w1", Status: repo.StatusPending}})
	a.store.put(repo.StartState{Record: repo.Record{CorrelationID: "w2", Status: repo.StatusPending}})

	rec := a.do(http.MethodPost, "/process/w1/complete", `{"answer":42}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"correlationId":"w1","status":"DONE"}`, rec.Body.String())
	st, _ := a.store.row("w1")
	require.JSONEq(t, `{"answer":42}`, string(st.Payload))
	problem(t, a.do(http.MethodPost, "/process/w1/fail", `{"e":1}`), http.StatusConflict, "already-finished")

	rec = a.do(http.MethodPost, "/process/w2/fail", `{"error":"declined"}`)
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"correlationId":"w2","status":"ERROR"}`, rec.Body.String())
	st, _ = a.store.row("w2")
	require.JSONEq(t, `{"error":"declined"}`, string(st.Error))

	problem(t, a.do(http.MethodPost, "/process/none/complete", `{}`), http.StatusNotFound, "unknown-correlation-id")
	problem(t, a.do(http.MethodPost, "/process/w1/complete", ``, "Content-Type", "application/json"), http.StatusBadRequest, "invalid-body")
	problem(t, a.do(http.MethodPost, "/process/a%20b/complete", `{}`), http.StatusBadRequest, "invalid-correlation-id")

	for err, want := range map[error]struct {
		status int
		typ    string
	}{
		fmt.Errorf("complete: %w", repo.ErrTooLarge):    {http.StatusRequestEntityTooLarge, "body-too-large"},
		fmt.Errorf("complete: %w", repo.ErrInvalidJSON): {http.StatusBadRequest, "invalid-body"},
		fmt.Errorf("complete: %w", repo.ErrInvalidID):   {http.StatusBadRequest, "invalid-correlation-id"},
		fmt.Errorf("complete: %w", repo.ErrIDConflict):  {http.StatusConflict, "correlation-id-conflict"},
		errors.New("i/o timeout"):                       {http.StatusServiceUnavailable, "store-unavailable"},
	} {
		a.store.fail = err
		problem(t, a.do(http.MethodPost, "/process/w1/complete", `{}`), want.status, want.typ)
	}
}

// TestRequestMetricsByRouteAndCode: every request is counted and timed under its route
// pattern and status code, with the metric names and labels the dashboard queries.
func TestRequestMetricsByRouteAndCode(t *testing.T) {
	t.Parallel()
	a := newFlowAPI(t, nil)
	for range 2 {
		a.do(http.MethodGet, "/healthz", "")
	}
	a.do(http.MethodPost, "/process/zzz/start", `{}`)
	a.do(http.MethodGet, "/process/nope/result", "")

	const reqs = `
# HELP camunda_waitroom_http_requests_total HTTP requests by route and status code.
# TYPE camunda_waitroom_http_requests_total counter
camunda_waitroom_http_requests_total{code="200",route="GET /healthz"} 2
camunda_waitroom_http_requests_total{code="404",route="GET /process/{id}/result"} 1
camunda_waitroom_http_requests_total{code="404",route="POST /process/{key}/start"} 1
`
	require.NoError(t, testutil.GatherAndCompare(a.reg, strings.NewReader(reqs), "camunda_waitroom_http_requests_total"))
	n, err := testutil.GatherAndCount(a.reg, "camunda_waitroom_http_request_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 3, n, "one duration series per route and code")
	mfs, err := a.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "camunda_waitroom_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			require.Len(t, labels, 2, "route and code only")
			if labels["route"] == "GET /healthz" {
				require.Equal(t, "200", labels["code"])
				require.EqualValues(t, 2, m.GetHistogram().GetSampleCount())
			}
		}
	}
}

// TestConfigValidationNamesTheField: a Config that cannot work fails New, naming the field.
func TestConfigValidationNamesTheField(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	ok := Config{Waitroom: &fakeRoom{store: store}, Store: store, Starter: &fakeStarter{}}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Starter = nil }, "Config.Starter is required"},
		{func(c *Config) { c.Store = nil }, "Config.Store is required"},
		{func(c *Config) { c.Waitroom = nil }, "Config.Waitroom is required"},
		{func(c *Config) { c.MaxBodyBytes = -1 }, "Config.MaxBodyBytes"},
		{func(c *Config) { c.MetricsAuth = true }, "Config.MetricsAuth needs Config.AuthToken"},
		{func(c *Config) { c.StartTimeout, c.StartLease = 5*time.Second, 9*time.Second }, "Config.StartLease 9s must be at least twice Config.StartTimeout 5s"},
		{func(c *Config) { c.ReadyTimeout = -time.Second }, "Config.ReadyTimeout"},
		{func(c *Config) { c.WaitTimeout = -time.Second }, "Config.WaitTimeout"},
	} {
		cfg := ok
		tc.mod(&cfg)
		_, err := New(cfg)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := New(ok)
	require.NoError(t, err)
	d := Config{}.WithDefaults()
	require.Equal(t, 3*StartTimeoutDefault, d.StartLease, "the lease defaults to three start timeouts")
	require.Equal(t, d.WaitTimeout, d.MaxResultWait, "a result wait defaults to a start's wait")
}
