package httpapi_test

// End-to-end tests of the HTTP API: the whole daemon (app.Run) against a real engine (Camunda
// or Operaton, as WAITROOM_TEST_ENGINE says) and a SQLite process_store.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

const startRoute = "POST /process/{key}/start"

func TestE2EStartOnboardUserAnswersDone(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})

	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start",
		`{"variables": {"email": "ada@example.com", "name": "Ada Lovelace"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	res := decode[result](t, body)
	require.Equal(t, "DONE", res.Status)
	require.NoError(t, repo.ValidateID(res.CorrelationID))
	var payload struct {
		AccountID string `json:"accountId"`
		User      struct {
			AccountID string `json:"accountId"`
			Email     string `json:"email"`
			Name      string `json:"name"`
		} `json:"user"`
	}
	require.NoError(t, json.Unmarshal(res.Payload, &payload), "payload: %s", res.Payload)
	require.True(t, strings.HasPrefix(payload.AccountID, "acc-"), "payload: %s", res.Payload)
	require.Equal(t, payload.AccountID, payload.User.AccountID)
	require.Equal(t, "ada@example.com", payload.User.Email)
	require.Equal(t, "Ada Lovelace", payload.User.Name)

	// The row is DONE with the same payload, and GET …/result answers it.
	code, got := d.get(t, "/process/"+res.CorrelationID+"/result")
	require.Equal(t, http.StatusOK, code, got)
	require.JSONEq(t, string(res.Payload), string(decode[result](t, []byte(got)).Payload))

	// A client-chosen correlation id, plain-object form; retrying it starts nothing new and
	// answers the same result.
	resp, body = d.do(t, http.MethodPost, "/process/onboard-user/start",
		`{"correlationId": "client-id-1", "email": "bob@example.com", "name": "Bob"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	first := decode[result](t, body)
	require.Equal(t, "client-id-1", first.CorrelationID)
	resp, body = d.do(t, http.MethodPost, "/process/onboard-user/start",
		`{"correlationId": "client-id-1", "email": "bob@example.com", "name": "Bob"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.JSONEq(t, string(first.Payload), string(decode[result](t, body).Payload), "a retried start must answer the first result")
}

func TestE2EInvalidInputAnswers422WithTheErrorBody(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})

	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": "not-an-email", "name": "Eve"}}`)
	p := requireProblem(t, resp, body, http.StatusUnprocessableEntity, "process-error")
	id, _ := p["correlationId"].(string)
	require.NotEmpty(t, id, "body: %s", body)
	errBody, ok := p["error"].(map[string]any)
	require.True(t, ok, "the problem carries the process's error body: %s", body)
	require.Equal(t, "INVALID_INPUT", errBody["code"])
	require.Equal(t, "email", errBody["field"])
	require.Contains(t, errBody["message"], "must contain @")

	// The row is ERROR with that body.
	rec, err := d.store(t).Find(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, repo.StatusError, rec.Status)
	require.JSONEq(t, `{"code":"INVALID_INPUT","field":"email","message":"email \"not-an-email\" must contain @"}`, string(rec.Error))

	// Empty name.
	resp, body = d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": "e@example.com", "name": "  "}}`)
	p = requireProblem(t, resp, body, http.StatusUnprocessableEntity, "process-error")
	require.Equal(t, "name", p["error"].(map[string]any)["field"])
}

func TestE2ESlowProcessAnswers202ThenResultByLocation(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true}) // waitroom.timeout 3s

	began := time.Now()
	resp, body := d.do(t, http.MethodPost, "/process/"+slowKey+"/start", `{"variables": {"who": "slow"}}`)
	waited := time.Since(began)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "body: %s", body)
	res := decode[result](t, body)
	require.Equal(t, "PENDING", res.Status)
	require.NotEmpty(t, res.CorrelationID)
	loc := resp.Header.Get("Location")
	require.Equal(t, "/process/"+res.CorrelationID+"/result", loc)
	require.GreaterOrEqual(t, waited, 3*time.Second, "the start waits waitroom.timeout before 202")

	// Still PENDING without a wait.
	resp, body = d.do(t, http.MethodGet, loc, "")
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "body: %s", body)
	require.Equal(t, loc, resp.Header.Get("Location"))

	// The process goes on; a GET with wait= returns its result.
	completeUserTask(t, res.CorrelationID, "hello")
	var got result
	enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
		resp, body := d.do(t, http.MethodGet, loc+"?wait=3s", "")
		switch resp.StatusCode {
		case http.StatusOK:
			got = decode[result](t, body)
			return true, nil
		case http.StatusAccepted:
			return false, nil
		}
		return false, fmt.Errorf("GET %s?wait=3s: %d %s", loc, resp.StatusCode, body)
	}, "the slow process's result")
	require.Equal(t, res.CorrelationID, got.CorrelationID)
	require.Equal(t, "DONE", got.Status)
	require.JSONEq(t, `{"greeting":"hello"}`, string(got.Payload))
}

// TestE2EUnknownProcessKeyAnswers404AndWritesNoRow: a key outside http.startableProcesses
// answers 404 before anything is written or started. (It used to register a row and fail it
// ERROR after the engine's 404; an allow-listed key the engine lacks is tested in
// TestE2ENotDeployedProcessFailsTheRow.)
func TestE2EUnknownProcessKeyAnswers404AndWritesNoRow(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	e := needEngine(t)
	for _, key := range []string{"no-such-process", "invoice"} {
		id := "not-allowed-" + key
		resp, body := d.do(t, http.MethodPost, "/process/"+key+"/start", `{"correlationId": "`+id+`", "variables": {"x": 1}}`)
		p := requireProblem(t, resp, body, http.StatusNotFound, "process-not-found", key, "http.startableProcesses")
		require.Equal(t, key, p["processKey"])
		require.Nil(t, p["correlationId"], "nothing was registered, so no id is handed out")
		_, err := d.store(t).Find(context.Background(), id)
		require.ErrorIs(t, err, repo.ErrNotFound, "a not-allowed key writes no row")
		require.Empty(t, instancesOf(t, e, key, id))
	}
}

func TestE2EAuthToken(t *testing.T) {
	const token = "s3cret-token"
	d := startDaemon(t, daemonOpts{authToken: token, waitForEngine: true})
	valid := `{"variables": {"email": "a@example.com", "name": "A"}}`

	for name, tok := range map[string]string{"no token": "", "wrong token": "wrong"} {
		t.Run(name, func(t *testing.T) {
			for _, r := range []struct{ method, path, body string }{
				{http.MethodPost, "/process/onboard-user/start", valid},
				{http.MethodGet, "/process/abc/result", ""},
				{http.MethodPost, "/process/abc/complete", `{}`},
				{http.MethodPost, "/process/abc/fail", `{}`},
			} {
				resp, body := d.doToken(t, r.method, r.path, r.body, tok)
				requireProblem(t, resp, body, http.StatusUnauthorized, "unauthorized", "Authorization: Bearer")
				require.Equal(t, `Bearer realm="camunda-waitroom"`, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	resp, body := d.doToken(t, http.MethodPost, "/process/onboard-user/start", valid, token)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.Equal(t, "DONE", decode[result](t, body).Status)

	// Operator endpoints stay open.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, body := d.doToken(t, http.MethodGet, p, "", "")
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", p, body)
	}
}

func TestE2EBadRequestsAnswerProblems(t *testing.T) {
	d := startDaemon(t, daemonOpts{}) // http.maxBodyBytes 2048
	big := `{"variables": {"blob": "` + strings.Repeat("x", 4096) + `"}}`

	t.Run("start body too large", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", big)
		requireProblem(t, resp, body, http.StatusRequestEntityTooLarge, "body-too-large", "2048 bytes", "http.maxBodyBytes")
	})
	t.Run("complete body too large", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/some-id/complete", big)
		requireProblem(t, resp, body, http.StatusRequestEntityTooLarge, "body-too-large", "the payload", "2048 bytes")
	})
	t.Run("malformed JSON", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": `)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-body", "not valid JSON", "the start body")
	})
	t.Run("two JSON documents", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/some-id/fail", `{} {}`)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-body", "single JSON document")
	})
	t.Run("body not an object", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `[1,2]`)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-body", "must be a JSON object")
	})
	t.Run("complete without a body", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/some-id/complete", "")
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-body", "request body missing", "the payload must be a JSON document")
	})
	t.Run("bad correlation id in the path", func(t *testing.T) {
		resp, body := d.do(t, http.MethodGet, "/process/bad%20id/result", "")
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-correlation-id", "not allowed")
		resp, body = d.do(t, http.MethodPost, "/process/bad%2Fid/complete", `{}`)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-correlation-id", "not allowed")
	})
	t.Run("bad correlation id in the start body", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"correlationId": "no spaces please"}`)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-correlation-id", "not allowed")
	})
	t.Run("correlation variable set by the client", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"correlationId": "x"}}`)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-variables", "correlationId")
	})
	t.Run("bad wait", func(t *testing.T) {
		resp, body := d.do(t, http.MethodGet, "/process/some-id/result?wait=forever", "")
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-wait", `"forever"`)
	})
	t.Run("bad process key", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/bad%20key/start", `{}`)
		requireProblem(t, resp, body, http.StatusBadRequest, "invalid-process-key", "[A-Za-z0-9._-]")
	})
	t.Run("unknown route", func(t *testing.T) {
		resp, body := d.do(t, http.MethodGet, "/nope", "")
		requireProblem(t, resp, body, http.StatusNotFound, "not-found", "/nope")
	})
	t.Run("unknown id result", func(t *testing.T) {
		resp, body := d.do(t, http.MethodGet, "/process/never-registered/result", "")
		requireProblem(t, resp, body, http.StatusNotFound, "unknown-correlation-id", "never-registered")
	})
}

func TestE2ECompleteAndFailFromOutside(t *testing.T) {
	d := startDaemon(t, daemonOpts{})
	other := d.store(t) // another replica registers the waits
	ctx := context.Background()
	for _, id := range []string{"ext-complete", "ext-fail", "ext-waited"} {
		_, err := other.Create(ctx, id)
		require.NoError(t, err)
	}

	t.Run("complete", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/ext-complete/complete", `{"ok": true}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
		require.Equal(t, result{CorrelationID: "ext-complete", Status: "DONE"}, decode[result](t, body))
		rec, err := other.Find(ctx, "ext-complete")
		require.NoError(t, err)
		require.Equal(t, repo.StatusDone, rec.Status)
		require.JSONEq(t, `{"ok": true}`, string(rec.Payload))

		for _, op := range []string{"complete", "fail"} {
			resp, body = d.do(t, http.MethodPost, "/process/ext-complete/"+op, `{"again": true}`)
			p := requireProblem(t, resp, body, http.StatusConflict, "already-finished", "first writer wins")
			require.Equal(t, "ext-complete", p["correlationId"])
		}
		rec, err = other.Find(ctx, "ext-complete")
		require.NoError(t, err)
		require.JSONEq(t, `{"ok": true}`, string(rec.Payload), "the first writer wins")
	})
	t.Run("fail", func(t *testing.T) {
		resp, body := d.do(t, http.MethodPost, "/process/ext-fail/fail", `{"code": "NOPE"}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
		require.Equal(t, result{CorrelationID: "ext-fail", Status: "ERROR"}, decode[result](t, body))
		resp, body = d.do(t, http.MethodPost, "/process/ext-fail/fail", `{"code": "AGAIN"}`)
		requireProblem(t, resp, body, http.StatusConflict, "already-finished")
		resp, body = d.do(t, http.MethodGet, "/process/ext-fail/result", "")
		p := requireProblem(t, resp, body, http.StatusUnprocessableEntity, "process-error")
		require.Equal(t, map[string]any{"code": "NOPE"}, p["error"])
	})
	t.Run("unknown id", func(t *testing.T) {
		for _, op := range []string{"complete", "fail"} {
			resp, body := d.do(t, http.MethodPost, "/process/ext-unknown/"+op, `{}`)
			requireProblem(t, resp, body, http.StatusNotFound, "unknown-correlation-id", "ext-unknown")
		}
	})
	t.Run("a blocked waiter wakes when another client completes", func(t *testing.T) {
		type answer struct {
			code    int
			body    []byte
			elapsed time.Duration
		}
		got := make(chan answer, 1)
		go func() {
			began := time.Now()
			req, _ := http.NewRequest(http.MethodGet, d.base+"/process/ext-waited/result?wait=5s", nil)
			resp, err := client.Do(req)
			if err != nil {
				got <- answer{code: -1, body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			var b json.RawMessage
			_ = json.NewDecoder(resp.Body).Decode(&b)
			got <- answer{resp.StatusCode, b, time.Since(began)}
		}()
		d.waitWaiters(t, 1) // the GET is blocked in the waitroom
		completedAt := time.Now()
		resp, body := d.do(t, http.MethodPost, "/process/ext-waited/complete", `{"woken": "yes"}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
		var a answer
		select {
		case a = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the waiter did not answer")
		}
		require.Equal(t, http.StatusOK, a.code, "body: %s", a.body)
		res := decode[result](t, a.body)
		require.Equal(t, "DONE", res.Status)
		require.JSONEq(t, `{"woken": "yes"}`, string(res.Payload))
		// Woken by the completion, not by the end of its wait (capped at waitroom.timeout, 3s).
		require.Less(t, time.Since(completedAt), 2*time.Second, "waited %s", a.elapsed)
		d.waitWaiters(t, 0)
	})
}

func TestE2EMetricsAfterTraffic(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true})
	const n = 3
	before := d.metrics(t)

	var wg sync.WaitGroup
	codes := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := d.do(t, http.MethodPost, "/process/onboard-user/start",
				fmt.Sprintf(`{"variables": {"email": "m%d@example.com", "name": "M%d"}}`, i, i))
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		require.Equal(t, http.StatusOK, c)
	}
	// One 404 for the request counter's code label.
	resp, _ := d.do(t, http.MethodGet, "/process/not-there/result", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	delta := func(after map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
		a, _ := sample(after, name, labels)
		b, _ := sample(before, name, labels)
		return a - b
	}
	prepare := map[string]string{"topic": "onboard-user/prepare-response"}
	create := map[string]string{"topic": "onboard-user/create-account"}
	// Counters move after the answers went out (the task is reported to the engine after the
	// row is committed; the request is counted after the handler returned): poll.
	var after map[string]*dto.MetricFamily
	enginetest.Eventually(t, 15*time.Second, func() (bool, error) {
		after = d.metrics(t)
		return delta(after, "camunda_waitroom_http_requests_total", map[string]string{"route": startRoute, "code": "200"}) >= n &&
			delta(after, "camunda_waitroom_tasks_completed_total", prepare) >= n &&
			delta(after, "camunda_waitroom_tasks_completed_total", create) >= n, nil
	}, "request and task counters moved")

	require.Equal(t, float64(1), delta(after, "camunda_waitroom_http_requests_total", map[string]string{"route": "GET /process/{id}/result", "code": "404"}))
	require.GreaterOrEqual(t, delta(after, "camunda_waitroom_tasks_fetched_total", prepare), float64(n))
	require.Equal(t, float64(0), delta(after, "camunda_waitroom_tasks_failed_total", prepare))
	// store: one begin_start per start, one complete per prepare-response, one read_start per
	// 404 (starts register with BeginStart and results read the start columns too).
	require.GreaterOrEqual(t, delta(after, "camunda_waitroom_store_calls_total", map[string]string{"op": "begin_start"}), float64(n))
	require.GreaterOrEqual(t, delta(after, "camunda_waitroom_store_calls_total", map[string]string{"op": "set_instance"}), float64(n))
	require.GreaterOrEqual(t, delta(after, "camunda_waitroom_store_calls_total", map[string]string{"op": "complete"}), float64(n))
	require.GreaterOrEqual(t, delta(after, "camunda_waitroom_store_calls_total", map[string]string{"op": "read_start"}), float64(1))
	require.Equal(t, float64(0), delta(after, "camunda_waitroom_store_errors_total", map[string]string{"op": "begin_start"}))
	require.Equal(t, float64(n), delta(after, "camunda_waitroom_starts_total", map[string]string{"outcome": "started"}))

	w, ok := sample(after, "camunda_waitroom_waiters", nil)
	require.True(t, ok, "the waiters gauge is exposed")
	require.Equal(t, float64(0), w)
	fam := after["camunda_waitroom_waiters"]
	require.Equal(t, "GAUGE", fam.GetType().String())
	// The local completions woke the waiters (no database read): wake_latency{source="local"}.
	wake := after["camunda_waitroom_wake_latency_seconds"]
	require.NotNil(t, wake)
	// A batched poll that runs between the row's commit and Room.Complete's local wake-up
	// wakes that waiter first (source "poll"); on a loaded machine that happens now and then.
	// Every waiter is woken once, and the local path must carry some of them.
	var local, all uint64
	for _, m := range wake.GetMetric() {
		all += m.GetHistogram().GetSampleCount()
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "source" && lp.GetValue() == "local" {
				local = m.GetHistogram().GetSampleCount()
			}
		}
	}
	require.GreaterOrEqual(t, all, uint64(n), "every waiter was woken")
	require.Positive(t, local, "waiters woken locally by Room.Complete")
	lat := after["camunda_waitroom_http_request_duration_seconds"]
	require.NotNil(t, lat)
	require.Equal(t, "HISTOGRAM", lat.GetType().String())
}

func TestE2EReadyz(t *testing.T) {
	t.Run("up", func(t *testing.T) {
		d := startDaemon(t, daemonOpts{waitForEngine: true})
		code, body := d.get(t, "/readyz")
		require.Equal(t, http.StatusOK, code, body)
		r := decode[struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}](t, []byte(body))
		require.Equal(t, "ready", r.Status)
		require.Equal(t, map[string]string{"store": "ok", "migrations": "ok", "engine": "ok", "models": "ok"}, r.Checks)
	})
	t.Run("engine unreachable", func(t *testing.T) {
		dead := fmt.Sprintf("http://127.0.0.1:%d/engine-rest", freePort(t))
		d := startDaemon(t, daemonOpts{camundaURL: dead, noDeploy: true})
		var checks map[string]string
		enginetest.Eventually(t, 20*time.Second, func() (bool, error) {
			code, body := d.get(t, "/readyz")
			if code != http.StatusServiceUnavailable {
				return false, fmt.Errorf("/readyz %d: %s", code, body)
			}
			r := decode[struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}](t, []byte(body))
			checks = r.Checks
			// After the first failed poll the check names the engine and why.
			return r.Status == "not ready" && strings.Contains(checks["engine"], "engine at"), nil
		}, "/readyz 503 naming the engine")
		require.Equal(t, "ok", checks["store"])
		require.Equal(t, "ok", checks["migrations"])
		require.Contains(t, checks["engine"], "127.0.0.1")

		code, body := d.get(t, "/healthz")
		require.Equal(t, http.StatusOK, code, body)

		// A start cannot reach the engine: 503 with Location. Nothing reached the engine, so
		// the row stays PENDING (a retry can start the process) with its claim released at
		// once (the retry need not wait out http.startLease). It used to be failed ERROR,
		// which made a retry of the same id answer that error forever.
		resp, b := d.do(t, http.MethodPost, "/process/onboard-user/start", `{"variables": {"email": "a@b.c", "name": "A"}}`)
		p := requireProblem(t, resp, b, http.StatusServiceUnavailable, "engine-unavailable", "engine is unavailable", "nothing was started")
		id := p["correlationId"].(string)
		require.Equal(t, "/process/"+id+"/result", resp.Header.Get("Location"))
		st, err := d.store(t).ReadStart(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, repo.StatusPending, st.Status)
		require.True(t, st.Startable(), "the claim is released: %+v", st)
	})
}

func TestE2EGracefulShutdownAnswers202(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true, waitTimeout: 20 * time.Second})

	type answer struct {
		code int
		loc  string
		body []byte
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, d.base+"/process/"+slowKey+"/start", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var b json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&b)
		got <- answer{code: resp.StatusCode, loc: resp.Header.Get("Location"), body: b}
	}()
	d.waitWaiters(t, 1) // the start is waiting (the process holds on its user task)

	stopped := make(chan error, 1)
	began := time.Now()
	go func() { stopped <- d.stop(40 * time.Second) }()

	var a answer
	select {
	case a = <-got:
	case <-time.After(40 * time.Second):
		t.Fatal("the waiting start got no answer during shutdown")
	}
	require.NoError(t, a.err, "the waiting request must be answered, not dropped")
	require.Equal(t, http.StatusAccepted, a.code, "body: %s", a.body)
	res := decode[result](t, a.body)
	require.Equal(t, "PENDING", res.Status)
	require.Equal(t, "/process/"+res.CorrelationID+"/result", a.loc)
	require.NoError(t, <-stopped, "app.Run returns nil on a cancelled context")
	t.Logf("shutdown took %s", time.Since(began).Round(time.Millisecond))

	// The row stays PENDING (clearOnShutdown is off) for a later collection.
	rec, err := d.store(t).Find(context.Background(), res.CorrelationID)
	require.NoError(t, err)
	require.Equal(t, repo.StatusPending, rec.Status)
}

// TestE2ETooManyWaitersStartsNothing: past waitroom.maxWaiters a start answers 503 with
// Retry-After before anything is written or started. (It used to start the process and then
// find no wait slot: a client obeying Retry-After multiplied processes.)
func TestE2ETooManyWaitersStartsNothing(t *testing.T) {
	d := startDaemon(t, daemonOpts{waitForEngine: true, maxWaiters: 1})
	e := needEngine(t)
	_, err := d.store(t).Create(context.Background(), "occupier")
	require.NoError(t, err)
	held := make(chan int, 1)
	go func() {
		resp, err := client.Get(d.base + "/process/occupier/result?wait=3s")
		if err != nil {
			held <- -1
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	d.waitWaiters(t, 1) // the only wait slot is taken

	resp, body := d.do(t, http.MethodPost, "/process/onboard-user/start",
		`{"correlationId": "overflow-1", "variables": {"email": "o@example.com", "name": "O"}}`)
	requireProblem(t, resp, body, http.StatusServiceUnavailable, "too-many-waiters", "waitroom.maxWaiters", "nothing was written or started")
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Empty(t, resp.Header.Get("Location"), "no result will ever be there")
	_, err = d.store(t).Find(context.Background(), "overflow-1")
	require.ErrorIs(t, err, repo.ErrNotFound)
	require.Empty(t, instancesOf(t, e, "onboard-user", "overflow-1"), "nothing was started")

	// Once the slot is free, the retry with the same id starts the process once.
	require.Equal(t, http.StatusAccepted, <-held, "the occupying wait ends at waitroom.timeout")
	resp, body = d.do(t, http.MethodPost, "/process/onboard-user/start",
		`{"correlationId": "overflow-1", "variables": {"email": "o@example.com", "name": "O"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.Len(t, instancesOf(t, e, "onboard-user", "overflow-1"), 1)
}
