package httpapi

// Every answer the handlers give, each problem type at its status, validated against
// openapi.json by pb33f/libopenapi-validator (status documented for the route, headers, content
// type, body schema). The contract test reaches what a running daemon answers to generated
// requests; this reaches the answers that need a failing collaborator to happen (the engine
// refusing or timing out, the store down, the wait limit, a body that does not arrive).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// scriptRoom is memRoom with answers that a scenario replaces.
type scriptRoom struct {
	memRoom
	reserve    func() (Reservation, error)
	wait       func(ctx context.Context, id string) (json.RawMessage, error)
	finish     func() (repo.Outcome, error)
	beginStart func(id, key string) (repo.StartState, bool, error)
	readStart  func(id string) (repo.StartState, error)
}

func (s *scriptRoom) Reserve() (Reservation, error) {
	if s.reserve != nil {
		return s.reserve()
	}
	return scriptSlot{s}, nil
}

type scriptSlot struct{ s *scriptRoom }

func (sl scriptSlot) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	return sl.s.Wait(ctx, id)
}
func (scriptSlot) Release() {}

func (s *scriptRoom) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	if s.wait != nil {
		return s.wait(ctx, id)
	}
	return s.memRoom.Wait(ctx, id)
}

func (s *scriptRoom) Complete(ctx context.Context, id string, b json.RawMessage) (repo.Outcome, error) {
	if s.finish != nil {
		return s.finish()
	}
	return s.memRoom.Complete(ctx, id, b)
}

func (s *scriptRoom) Fail(ctx context.Context, id string, b json.RawMessage) (repo.Outcome, error) {
	if s.finish != nil {
		return s.finish()
	}
	return s.memRoom.Fail(ctx, id, b)
}

func (s *scriptRoom) BeginStart(ctx context.Context, id, key string, lease time.Duration) (repo.StartState, bool, error) {
	if s.beginStart != nil {
		return s.beginStart(id, key)
	}
	return s.memRoom.BeginStart(ctx, id, key, lease)
}

func (s *scriptRoom) ReadStart(ctx context.Context, id string) (repo.StartState, error) {
	if s.readStart != nil {
		return s.readStart(id)
	}
	return s.memRoom.ReadStart(ctx, id)
}

// scriptStarter answers every start with err, or an instance id when err is nil.
type scriptStarter struct{ err error }

func (s scriptStarter) StartProcess(context.Context, string, string, map[string]Variable) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	return "instance-1", nil
}

func (scriptStarter) FindInstances(context.Context, string, string, string) ([]string, error) {
	return nil, nil
}

// timeoutBody is a request body whose read times out, as the server's read deadline does.
type timeoutBody struct{}

func (timeoutBody) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }
func (timeoutBody) Close() error             { return nil }

func pendingRow(id string) (repo.StartState, error) {
	return repo.StartState{Record: repo.Record{CorrelationID: id, Status: repo.StatusPending}, ProcessKey: "p", ProcessInstanceID: "instance-1"}, nil
}

func TestOpenAPIDocumentsEveryAnswer(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs)

	storeDown := errors.New("connection refused")
	const token = "t0ken"
	type scenario struct {
		name         string
		method, path string
		body, ct     string
		noAuth       bool
		room         func(*scriptRoom)
		starter      error
		cfg          func(*Config)
		timeoutBody  bool
		status       int
		problem      string // the problem type, "" for a JSON answer
	}
	startBody := `{"correlationId":"order-17","variables":{"email":"ada@example.com"}}`
	scenarios := []scenario{
		// POST /process/{key}/start
		{name: "start done", method: "POST", path: "/process/p/start", body: startBody, status: 200},
		{name: "start empty body", method: "POST", path: "/process/p/start", status: 200},
		{name: "start pending", method: "POST", path: "/process/p/start", body: startBody, status: 202,
			room: func(r *scriptRoom) {
				r.wait = func(context.Context, string) (json.RawMessage, error) { return nil, context.DeadlineExceeded }
				r.readStart = pendingRow
			}},
		{name: "start invalid key", method: "POST", path: "/process/a%20b/start", status: 400, problem: "invalid-process-key"},
		{name: "start not JSON", method: "POST", path: "/process/p/start", body: `{"a":`, status: 400, problem: "invalid-body"},
		{name: "start bad id", method: "POST", path: "/process/p/start", body: `{"correlationId":"a b"}`, status: 400, problem: "invalid-correlation-id"},
		{name: "start bad variable", method: "POST", path: "/process/p/start", body: `{"variables":{"correlationId":"x"}}`, status: 400, problem: "invalid-variables"},
		{name: "start rejected", method: "POST", path: "/process/p/start", body: startBody, starter: ErrStartRejected, status: 400, problem: "start-rejected"},
		{name: "start no token", method: "POST", path: "/process/p/start", body: startBody, noAuth: true, status: 401, problem: "unauthorized"},
		{name: "start not startable", method: "POST", path: "/process/q/start", body: startBody, status: 404, problem: "process-not-found"},
		{name: "start body late", method: "POST", path: "/process/p/start", ct: "application/json", timeoutBody: true, status: 408, problem: "request-timeout"},
		{name: "start other process", method: "POST", path: "/process/p/start", body: startBody, status: 409, problem: "correlation-id-conflict",
			room: func(r *scriptRoom) {
				r.beginStart = func(id, _ string) (repo.StartState, bool, error) {
					return repo.StartState{Record: repo.Record{CorrelationID: id, Status: repo.StatusPending}, ProcessKey: "other"}, false, nil
				}
			}},
		{name: "start case conflict", method: "POST", path: "/process/p/start", body: startBody, status: 409, problem: "correlation-id-conflict",
			room: func(r *scriptRoom) {
				r.beginStart = func(string, string) (repo.StartState, bool, error) {
					return repo.StartState{}, false, repo.ErrIDConflict
				}
			}},
		{name: "start too large", method: "POST", path: "/process/p/start", body: `{"v":"` + strings.Repeat("x", 5000) + `"}`, status: 413, problem: "body-too-large"},
		{name: "start not declared JSON", method: "POST", path: "/process/p/start", body: startBody, ct: "text/plain", status: 415, problem: "unsupported-media-type"},
		{name: "start process error", method: "POST", path: "/process/p/start", body: startBody, status: 422, problem: "process-error",
			room: func(r *scriptRoom) {
				r.wait = func(context.Context, string) (json.RawMessage, error) {
					return nil, &waitroom.ProcessError{CorrelationID: "order-17", Body: json.RawMessage(`{"code":"X"}`)}
				}
			}},
		{name: "start not deployed", method: "POST", path: "/process/p/start", body: startBody, starter: ErrProcessNotFound, status: 502, problem: "process-not-deployed"},
		{name: "start engine error", method: "POST", path: "/process/p/start", body: startBody, starter: ErrEngineError, status: 502, problem: "engine-error"},
		{name: "start not ready", method: "POST", path: "/process/p/start", body: startBody, status: 503, problem: "not-ready",
			cfg: func(c *Config) { c.StartGate = func() error { return errors.New("models not deployed") } }},
		{name: "start over capacity", method: "POST", path: "/process/p/start", body: startBody, status: 503, problem: "too-many-waiters",
			room: func(r *scriptRoom) {
				r.reserve = func() (Reservation, error) { return nil, waitroom.ErrTooManyWaiters }
			}},
		{name: "start not sent", method: "POST", path: "/process/p/start", body: startBody, starter: ErrStartNotSent, status: 503, problem: "engine-unavailable"},
		{name: "start engine silent", method: "POST", path: "/process/p/start", body: startBody, starter: ErrEngineUnavailable, status: 503, problem: "engine-unavailable"},
		{name: "start store down", method: "POST", path: "/process/p/start", body: startBody, status: 503, problem: "store-unavailable",
			room: func(r *scriptRoom) {
				r.beginStart = func(string, string) (repo.StartState, bool, error) { return repo.StartState{}, false, storeDown }
			}},

		// GET /process/{id}/result
		{name: "result done", method: "GET", path: "/process/order-17/result", status: 200,
			room: func(r *scriptRoom) {
				r.readStart = func(id string) (repo.StartState, error) {
					return repo.StartState{Record: repo.Record{CorrelationID: id, Status: repo.StatusDone, Payload: json.RawMessage(`{"ok":true}`)}}, nil
				}
			}},
		{name: "result pending", method: "GET", path: "/process/order-17/result", status: 202, room: func(r *scriptRoom) { r.readStart = pendingRow }},
		{name: "result bad id", method: "GET", path: "/process/a%20b/result", status: 400, problem: "invalid-correlation-id"},
		{name: "result bad wait", method: "GET", path: "/process/order-17/result?wait=soon", status: 400, problem: "invalid-wait"},
		{name: "result no token", method: "GET", path: "/process/order-17/result", noAuth: true, status: 401, problem: "unauthorized"},
		{name: "result unknown", method: "GET", path: "/process/order-17/result", status: 404, problem: "unknown-correlation-id"},
		{name: "result error", method: "GET", path: "/process/order-17/result", status: 422, problem: "process-error",
			room: func(r *scriptRoom) {
				r.readStart = func(id string) (repo.StartState, error) {
					return repo.StartState{Record: repo.Record{CorrelationID: id, Status: repo.StatusError, Error: json.RawMessage(`null`)}}, nil
				}
			}},
		{name: "result store down", method: "GET", path: "/process/order-17/result", status: 503, problem: "store-unavailable",
			room: func(r *scriptRoom) {
				r.readStart = func(string) (repo.StartState, error) { return repo.StartState{}, storeDown }
			}},
		{name: "result over capacity", method: "GET", path: "/process/order-17/result?wait=1s", status: 503, problem: "too-many-waiters",
			room: func(r *scriptRoom) {
				r.readStart = pendingRow
				r.wait = func(context.Context, string) (json.RawMessage, error) { return nil, waitroom.ErrTooManyWaiters }
			}},
	}
	// POST /process/{id}/complete and /fail
	for _, op := range []string{"complete", "fail"} {
		path := "/process/order-17/" + op
		scenarios = append(scenarios,
			scenario{name: op + " done", method: "POST", path: path, body: `{"x":1}`, status: 200, room: func(r *scriptRoom) {
				r.finish = func() (repo.Outcome, error) { return repo.Transitioned, nil }
			}},
			scenario{name: op + " bad id", method: "POST", path: "/process/a%20b/" + op, body: `{}`, status: 400, problem: "invalid-correlation-id"},
			scenario{name: op + " no body", method: "POST", path: path, status: 400, problem: "invalid-body"},
			scenario{name: op + " store refuses body", method: "POST", path: path, body: `"x"`, status: 400, problem: "invalid-body", room: func(r *scriptRoom) {
				r.finish = func() (repo.Outcome, error) { return 0, repo.ErrInvalidJSON }
			}},
			scenario{name: op + " no token", method: "POST", path: path, body: `{}`, noAuth: true, status: 401, problem: "unauthorized"},
			scenario{name: op + " unknown", method: "POST", path: path, body: `{}`, status: 404, problem: "unknown-correlation-id"},
			scenario{name: op + " body late", method: "POST", path: path, ct: "application/json", timeoutBody: true, status: 408, problem: "request-timeout"},
			scenario{name: op + " finished", method: "POST", path: path, body: `{}`, status: 409, problem: "already-finished", room: func(r *scriptRoom) {
				r.finish = func() (repo.Outcome, error) { return repo.AlreadyFinished, nil }
			}},
			scenario{name: op + " too large", method: "POST", path: path, body: `"` + strings.Repeat("x", 5000) + `"`, status: 413, problem: "body-too-large"},
			scenario{name: op + " store too large", method: "POST", path: path, body: `"x"`, status: 413, problem: "body-too-large", room: func(r *scriptRoom) {
				r.finish = func() (repo.Outcome, error) { return 0, repo.ErrTooLarge }
			}},
			scenario{name: op + " not declared JSON", method: "POST", path: path, body: `{}`, ct: "text/plain", status: 415, problem: "unsupported-media-type"},
			scenario{name: op + " store down", method: "POST", path: path, body: `{}`, status: 503, problem: "store-unavailable", room: func(r *scriptRoom) {
				r.finish = func() (repo.Outcome, error) { return 0, storeDown }
			}},
		)
	}
	scenarios = append(scenarios,
		scenario{name: "healthz", method: "GET", path: "/healthz", noAuth: true, status: 200},
		scenario{name: "ready", method: "GET", path: "/readyz", noAuth: true, status: 200,
			cfg: func(c *Config) { c.Ready = map[string]Check{"store": func(context.Context) error { return nil }} }},
		scenario{name: "not ready", method: "GET", path: "/readyz", noAuth: true, status: 503,
			cfg: func(c *Config) { c.Ready = map[string]Check{"store": func(context.Context) error { return storeDown }} }},
		scenario{name: "metrics", method: "GET", path: "/metrics", noAuth: true, status: 200},
		scenario{name: "metrics with auth", method: "GET", path: "/metrics", status: 200, cfg: func(c *Config) { c.MetricsAuth = true }},
		scenario{name: "metrics no token", method: "GET", path: "/metrics", noAuth: true, status: 401, problem: "unauthorized",
			cfg: func(c *Config) { c.MetricsAuth = true }},
		scenario{name: "openapi", method: "GET", path: "/openapi.json", noAuth: true, status: 200},
	)

	seen := map[string]bool{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			room := &scriptRoom{}
			if sc.room != nil {
				sc.room(room)
			}
			reg := prometheus.NewRegistry()
			cfg := Config{Waitroom: room, Store: room, Starter: scriptStarter{sc.starter}, WaitTimeout: 50 * time.Millisecond,
				MaxBodyBytes: 4096, Startable: []string{"p"}, AuthToken: token, Registerer: reg, Gatherer: reg}
			if sc.cfg != nil {
				sc.cfg(&cfg)
			}
			s, err := New(cfg)
			require.NoError(t, err)

			var body io.Reader
			if sc.body != "" {
				body = strings.NewReader(sc.body)
			}
			req := httptest.NewRequest(sc.method, sc.path, body)
			if sc.timeoutBody {
				req.Body, req.ContentLength = timeoutBody{}, -1
			}
			ct := sc.ct
			if ct == "" && sc.body != "" {
				ct = "application/json"
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			if !sc.noAuth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			require.Equal(t, sc.status, rec.Code, "body: %s", rec.Body)
			if sc.problem != "" {
				var p struct{ Type string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
				require.Equal(t, problemTypeBase+sc.problem, p.Type)
				seen[sc.problem] = true
			}

			// The validator matches the request against the document's paths: give it the
			// document's view of the request (no body, as it only reads the route).
			vreq := httptest.NewRequest(sc.method, sc.path, nil)
			ok, verrs := v.ValidateHttpResponse(vreq, rec.Result())
			for _, e := range verrs {
				t.Errorf("%s %s answered %d: not as openapi.json says: %s (%s)", sc.method, sc.path, rec.Code, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					t.Errorf("  %s at %s", se.Reason, se.FieldPath)
				}
			}
			require.True(t, ok)
		})
	}
	// Every problem type the code writes, but the two of unrouted requests (their own tests),
	// is answered by some scenario above.
	for _, typ := range problemTypesInSource(t) {
		if typ != "not-found" && typ != "method-not-allowed" {
			require.True(t, seen[typ], "no scenario answers problem type %s: add one", typ)
		}
	}
}
