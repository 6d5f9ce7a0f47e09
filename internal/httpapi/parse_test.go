package httpapi

// Tests of request parsing and the middleware, against the handler with in-memory
// collaborators: no engine, no database. The start flow against the real engine is in the
// end-to-end tests (daemon_e2e_test.go).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// memRoom is an in-memory Waitroom and StartStore: BeginStart and Register create a PENDING
// record, Wait answers at once with the DONE payload {"ok":true}.
type memRoom struct {
	mu   sync.Mutex
	rows map[string]repo.Status
	n    int
}

func (m *memRoom) Register(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil {
		m.rows = map[string]repo.Status{}
	}
	if id == "" {
		m.n++
		id = fmt.Sprintf("gen-%d", m.n)
	}
	if _, ok := m.rows[id]; !ok {
		m.rows[id] = repo.StatusPending
	}
	return id, nil
}

func (m *memRoom) Wait(context.Context, string) (json.RawMessage, error) {
	return json.RawMessage(`{"ok":true}`), nil
}

func (m *memRoom) Complete(_ context.Context, id string, _ json.RawMessage) (repo.Outcome, error) {
	return m.finish(id, repo.StatusDone)
}

func (m *memRoom) Fail(_ context.Context, id string, _ json.RawMessage) (repo.Outcome, error) {
	return m.finish(id, repo.StatusError)
}

func (m *memRoom) finish(id string, st repo.Status) (repo.Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.rows[id]
	switch {
	case !ok:
		return repo.NotFound, nil
	case cur != repo.StatusPending:
		return repo.AlreadyFinished, nil
	}
	m.rows[id] = st
	return repo.Transitioned, nil
}

func (m *memRoom) Find(_ context.Context, id string) (repo.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.rows[id]
	if !ok {
		return repo.Record{}, repo.ErrNotFound
	}
	return repo.Record{CorrelationID: id, Status: st}, nil
}

// The start protocol's store, in memory: a row per id, created PENDING by BeginStart.

func (m *memRoom) Reserve() (Reservation, error) { return memSlot{m}, nil }

type memSlot struct{ m *memRoom }

func (s memSlot) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	return s.m.Wait(ctx, id)
}
func (memSlot) Release() {}

func (m *memRoom) BeginStart(_ context.Context, id, key string, _ time.Duration) (repo.StartState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil {
		m.rows = map[string]repo.Status{}
	}
	st, ok := m.rows[id]
	if !ok {
		st = repo.StatusPending
		m.rows[id] = st
	}
	return repo.StartState{Record: repo.Record{CorrelationID: id, Status: st}, ProcessKey: key, Attempt: 1, LeaseLeft: time.Minute}, !ok, nil
}

func (m *memRoom) ReadStart(ctx context.Context, id string) (repo.StartState, error) {
	rec, err := m.Find(ctx, id)
	return repo.StartState{Record: rec}, err
}

func (m *memRoom) ClaimStart(context.Context, string, int64, time.Duration) (bool, error) {
	return false, nil
}
func (m *memRoom) ReleaseStart(context.Context, string, int64) (bool, error) { return true, nil }
func (m *memRoom) SetInstance(_ context.Context, _, instanceID string) (string, error) {
	return instanceID, nil
}

func (m *memRoom) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

// recStarter records the starts it is asked for.
type recStarter struct {
	mu     sync.Mutex
	starts []startCall
}

type startCall struct {
	key, businessKey string
	vars             map[string]Variable
}

func (r *recStarter) StartProcess(_ context.Context, key, businessKey string, vars map[string]Variable) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, startCall{key, businessKey, vars})
	return "instance-1", nil
}

func (r *recStarter) FindInstances(context.Context, string, string, string) ([]string, error) {
	return nil, nil
}

func (r *recStarter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.starts)
}

type testAPI struct {
	*Server
	room    *memRoom
	starter *recStarter
}

func newTestAPI(t testing.TB, mod func(*Config)) *testAPI {
	t.Helper()
	room, starter := &memRoom{}, &recStarter{}
	cfg := Config{Waitroom: room, Store: room, Starter: starter, WaitTimeout: time.Second, MaxBodyBytes: 64 << 10,
		Startable: []string{"p"}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	return &testAPI{Server: s, room: room, starter: starter}
}

func (a *testAPI) send(method, path, contentType, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

// problem decodes a problem answer and checks its status and type.
func problem(t *testing.T, rec *httptest.ResponseRecorder, status int, typ string) map[string]any {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body)
	var p map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
	require.True(t, strings.HasPrefix(fmt.Sprint(p["type"]), problemTypeBase+typ), rec.Body.String())
	return p
}

func TestStartBodyMustBeExactlyOneJSONDocument(t *testing.T) {
	a := newTestAPI(t, nil)
	for _, body := range []string{`{"a":1}}}`, `{"a":1}]`, `{"a":1} {}`, `{"a":1} x`, `{"a":1}{"b":`, `{} 1`} {
		rec := a.send(http.MethodPost, "/process/p/start", "application/json", body)
		p := problem(t, rec, http.StatusBadRequest, "invalid-body")
		require.Contains(t, p["detail"], "single JSON document", body)
	}
	for _, body := range []string{`{"a":1}`, " {\"a\":1} \n\t ", ``} {
		rec := a.send(http.MethodPost, "/process/p/start", "application/json", body)
		require.Equal(t, http.StatusOK, rec.Code, "%q: %s", body, rec.Body)
	}
	require.Equal(t, 3, a.starter.count(), "only the three valid bodies started a process")
	require.Equal(t, 3, a.room.count(), "and only they registered a row")
}

func TestStartChecksTheEngineLimitsBeforeAnythingIsWritten(t *testing.T) {
	a := newTestAPI(t, nil)
	emoji := "\U0001F600" // two UTF-16 code units, as Java counts it
	cases := []struct {
		body string
		ok   bool
		want string
	}{
		{`{"s":"` + strings.Repeat("x", 4000) + `"}`, true, ""},
		{`{"s":"` + strings.Repeat("x", 4001) + `"}`, false, `variable "s" is a string of 4001 characters; the engine stores at most 4000`},
		{`{"s":"` + strings.Repeat(emoji, 2000) + `"}`, true, ""},
		{`{"s":"` + strings.Repeat(emoji, 2000) + `x"}`, false, `variable "s" is a string of 4001 characters`},
		{`{"s":"` + strings.Repeat("ж", 4000) + `"}`, true, ""},
		{`{"variables":{"long":"` + strings.Repeat("x", 4001) + `"}}`, false, `variable "long"`},
		{`{"` + strings.Repeat("n", 255) + `":1}`, true, ""},
		{`{"` + strings.Repeat("n", 256) + `":1}`, false, "is 256 characters long; the engine stores names of at most 255"},
		{`{"` + strings.Repeat(emoji, 128) + `":1}`, false, "is 256 characters long"},
		{`{"businessKey":"` + strings.Repeat("b", 255) + `"}`, true, ""},
		{`{"businessKey":"` + strings.Repeat("b", 256) + `"}`, false, "businessKey is 256 characters long; the engine stores at most 255"},
		// Objects and arrays are Json variables, which the engine stores without a limit.
		{`{"doc":{"text":"` + strings.Repeat("x", 20000) + `"}}`, true, ""},
	}
	for i, tc := range cases {
		before, rows := a.starter.count(), a.room.count()
		rec := a.send(http.MethodPost, "/process/p/start", "application/json", tc.body)
		if tc.ok {
			require.Equal(t, http.StatusOK, rec.Code, "case %d: %s", i, rec.Body)
			require.Equal(t, before+1, a.starter.count())
			continue
		}
		p := problem(t, rec, http.StatusBadRequest, "invalid-")
		require.Contains(t, p["detail"], tc.want, "case %d", i)
		require.Equal(t, before, a.starter.count(), "case %d: no process started", i)
		require.Equal(t, rows, a.room.count(), "case %d: no row registered", i)
	}
}

func TestPostBodiesMustBeDeclaredJSON(t *testing.T) {
	a := newTestAPI(t, nil)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"application/json; charset=latin1", "application/json;;;", "text/json"} {
		for _, path := range []string{"/process/p/start", "/process/some-id/complete", "/process/some-id/fail"} {
			rec := a.send(http.MethodPost, path, ct, `{}`)
			problem(t, rec, http.StatusUnsupportedMediaType, "unsupported-media-type")
			require.Equal(t, "application/json", rec.Header().Get("Accept-Post"))
		}
	}
	// A body without a Content-Type.
	req := httptest.NewRequest(http.MethodPost, "/process/p/start", strings.NewReader(`{}`))
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	problem(t, rec, http.StatusUnsupportedMediaType, "unsupported-media-type")
	require.Equal(t, 0, a.starter.count())

	for _, ct := range []string{"application/json", "application/json; charset=UTF-8", "application/vnd.example+json"} {
		require.Equal(t, http.StatusOK, a.send(http.MethodPost, "/process/p/start", ct, `{}`).Code, ct)
	}
	// An empty start needs no Content-Type.
	require.Equal(t, http.StatusOK, a.send(http.MethodPost, "/process/p/start", "", "").Code)
}

func TestWrongMethodAnswers405WithAllow(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.Gatherer = prometheus.NewRegistry() })
	cases := []struct{ method, path, allow string }{
		{http.MethodGet, "/process/p/start", "POST"},
		{http.MethodPut, "/process/p/start", "POST"},
		{http.MethodDelete, "/process/some-id/result", "GET, HEAD"},
		{http.MethodPost, "/process/some-id/result", "GET, HEAD"},
		{http.MethodGet, "/process/some-id/complete", "POST"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodDelete, "/metrics", "GET, HEAD"},
		{http.MethodOptions, "/process/p/start", "POST"},
	}
	for _, tc := range cases {
		rec := a.send(tc.method, tc.path, "", "")
		p := problem(t, rec, http.StatusMethodNotAllowed, "method-not-allowed")
		require.Equal(t, tc.allow, rec.Header().Get("Allow"), "%s %s", tc.method, tc.path)
		require.Contains(t, p["detail"], tc.method)
	}
	problem(t, a.send(http.MethodGet, "/nope", "", ""), http.StatusNotFound, "not-found")
	require.Equal(t, http.StatusOK, a.send(http.MethodHead, "/healthz", "", "").Code)
}

func TestBearerTokenAndMetricsAuth(t *testing.T) {
	const token = "s3cret-token"
	for _, metricsAuth := range []bool{false, true} {
		a := newTestAPI(t, func(c *Config) {
			c.AuthToken, c.MetricsAuth, c.Gatherer = token, metricsAuth, prometheus.NewRegistry()
		})
		for _, h := range []string{"", "Bearer", "Bearer " + token[:5], "Bearer " + token + "x", "bearer " + token, "Basic " + token} {
			problem(t, a.send(http.MethodGet, "/process/x/result", "", "", "Authorization", h), http.StatusUnauthorized, "unauthorized")
		}
		require.Equal(t, http.StatusNotFound, a.send(http.MethodGet, "/process/x/result", "", "", "Authorization", "Bearer "+token).Code)

		code := a.send(http.MethodGet, "/metrics", "", "").Code
		if metricsAuth {
			require.Equal(t, http.StatusUnauthorized, code)
			require.Equal(t, http.StatusOK, a.send(http.MethodGet, "/metrics", "", "", "Authorization", "Bearer "+token).Code)
		} else {
			require.Equal(t, http.StatusOK, code)
		}
		require.Equal(t, http.StatusOK, a.send(http.MethodGet, "/healthz", "", "").Code)
	}
	_, err := New(Config{Waitroom: &memRoom{}, Store: &memRoom{}, Starter: &recStarter{}, MetricsAuth: true})
	require.Error(t, err, "MetricsAuth without a token")
}

// TestBodyReadTimeoutAnswers408WithoutAddresses: a client that sends its headers and then
// stalls gets 408 once the server's read timeout passes, and the answer does not name the
// socket's addresses (the read error does).
func TestBodyReadTimeoutAnswers408WithoutAddresses(t *testing.T) {
	a := newTestAPI(t, nil)
	srv := httptest.NewUnstartedServer(a)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /process/p/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, string(body))
	require.Contains(t, string(body), "http.readTimeout")
	local, remote := conn.LocalAddr().String(), conn.RemoteAddr().String()
	require.NotContains(t, string(body), local)
	require.NotContains(t, string(body), remote)
	require.NotContains(t, string(body), "127.0.0.1")
	require.Equal(t, 0, a.starter.count())
}

// TestReadyzBoundsEveryCheck: a hung check is reported as failing within ReadyTimeout, and
// the others still answer.
func TestReadyzBoundsEveryCheck(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a := newTestAPI(t, func(c *Config) {
		c.ReadyTimeout = 200 * time.Millisecond
		c.Redact = func(s string) string { return strings.ReplaceAll(s, "pw-secret", "<redacted>") }
		c.Ready = map[string]Check{
			"ok":      func(context.Context) error { return nil },
			"failing": func(context.Context) error { return errors.New("dial http://u:pw-secret@db: refused") },
			"hung":    func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			"deaf":    func(context.Context) error { <-release; return nil }, // ignores its context
		}
	})
	began := time.Now()
	rec := a.send(http.MethodGet, "/readyz", "", "")
	took := time.Since(began)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Less(t, took, 2*time.Second)
	var r struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
	require.Equal(t, "ok", r.Checks["ok"])
	require.Equal(t, "dial http://u:<redacted>@db: refused", r.Checks["failing"])
	require.Contains(t, r.Checks["hung"], "deadline exceeded")
	require.Equal(t, "no answer within 200ms", r.Checks["deaf"])
}
