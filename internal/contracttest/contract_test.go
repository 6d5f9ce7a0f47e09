package contracttest

// The contract test: a real daemon (app.Run, in this process) on PostgreSQL (a schema of its
// own) and the package's engine, schemathesis against it by the OpenAPI document it serves,
// then the row audit.
//
// It needs the schemathesis executable in WAITROOM_TEST_SCHEMATHESIS
// (`eval "$(bash scripts/schemathesis.sh env)"`), PostgreSQL in WAITROOM_TEST_PG_DSN and the
// engine jar; outside CI a missing one skips the test, saying which, and with CI=true it fails.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/app"
	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/processes/onboarduser"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest/pgtest"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

// engine is the package's engine (nil when the jar is not built, outside CI).
var engine *topicstest.Engine

func TestMain(m *testing.M) { os.Exit(topicstest.Main(m, &engine)) }

const (
	// envSchemathesis names the schemathesis executable.
	envSchemathesis = "WAITROOM_TEST_SCHEMATHESIS"
	// envSummary, when set, names a file the test writes the run's counts and schemathesis's
	// output to (.ci/run prints it).
	envSummary = "WAITROOM_TEST_CONTRACT_SUMMARY"
	// envReports, when set, names the directory schemathesis writes its reports to (a HAR of
	// every request and answer, JUnit), to keep them after the test.
	envReports = "WAITROOM_TEST_CONTRACT_REPORTS"
	// envSeed and envExamples override the seed and multiply the examples per operation, for a
	// deeper run by hand (e.g. WAITROOM_TEST_CONTRACT_SEED=7 WAITROOM_TEST_CONTRACT_EXAMPLES=5).
	envSeed     = "WAITROOM_TEST_CONTRACT_SEED"
	envExamples = "WAITROOM_TEST_CONTRACT_EXAMPLES"
	// seed makes the run repeatable: the same requests on every run of one schemathesis version.
	seed = "20260101"
	// holdKey is a test process that holds its row PENDING: a user task nobody completes
	// comes before the result task, so only POST /process/{id}/complete or /fail finishes the
	// row. Its starts answer 202, and the links to complete and fail reach PENDING rows.
	holdKey   = "contract-hold"
	holdTopic = "contract-hold/result"
)

// holdBPMN is the model of holdKey.
var holdBPMN = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="contract-hold-definitions" targetNamespace="http://camunda-waitroom/test">
  <bpmn:process id="contract-hold" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="hold" name="Hold" />
    <bpmn:serviceTask id="respond" camunda:type="external" camunda:topic="contract-hold/result" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hold" />
    <bpmn:sequenceFlow id="f2" sourceRef="hold" targetRef="respond" />
    <bpmn:sequenceFlow id="f3" sourceRef="respond" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
`)

// runs are the schemathesis runs, one per process the start operation starts: onboard-user
// (the real process and its handlers; every operation and phase) and holdKey (the /process
// operations only, fewer examples: each start waits out waitroom.timeout).
var runs = []struct {
	key         string
	maxExamples int
	extra       []string
}{
	{key: onboarduser.ProcessKey, maxExamples: 40},
	{key: holdKey, maxExamples: 10, extra: []string{"--include-tag", "processes"}},
}

// schemathesis returns the executable, or skips (fails with CI=true) without it.
func schemathesis(t *testing.T) string {
	t.Helper()
	path := os.Getenv(envSchemathesis)
	if path == "" {
		msg := envSchemathesis + " is not set: the contract test needs schemathesis; run `eval \"$(bash scripts/schemathesis.sh env)\"` to install it (a virtualenv) and set it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: .ci/run sets it)")
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v", envSchemathesis, path, err)
	}
	return path
}

func TestContract(t *testing.T) {
	if testing.Short() {
		t.Skip("the contract test runs a daemon, the engine and schemathesis: not with -short")
	}
	st := schemathesis(t)
	e := topicstest.Need(t, engine)
	dsn := pgtest.Schema(t, pgtest.DSN(t), "contract")
	token := randomHex(t, 24)
	e.Deploy(t, "contract-hold.bpmn", holdBPMN)
	d := startDaemon(t, e.URL, dsn, token)
	resp, err := http.Get(d.base + "/openapi.json")
	require.NoError(t, err)
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, string(httpapi.OpenAPI()), string(served), "the daemon does not serve the checked-in openapi.json")
	if dir := os.Getenv(envReports); dir != "" {
		d.reports = dir
	}

	factor := 1
	if v := os.Getenv(envExamples); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, envExamples)
		factor = n
	}
	var entries []harEntry
	var outs []string
	began := time.Now()
	for _, r := range runs {
		dir := filepath.Join(d.reports, r.key)
		out, err := runSchemathesis(t, st, d.base, token, dir, r.key, r.maxExamples*factor, r.extra...)
		outs = append(outs, fmt.Sprintf("--- schemathesis, start key %s:\n%s", r.key, out))
		if err != nil {
			t.Errorf("schemathesis (start key %s) found failures (%v); its report:\n%s", r.key, err, tail(string(out), 80))
		}
		es := readHAR(t, filepath.Join(dir, "har.json"))
		require.NotEmpty(t, es, "schemathesis recorded no request")
		entries = append(entries, es...)
	}
	took := time.Since(began)
	counts := countRun(entries, outs)
	t.Logf("contract run (%s): %s", took.Round(time.Millisecond), counts)
	// The documented 5xx are allowed by schemathesis.toml; of them, only the engine's can be
	// right here (a start slower than http.startTimeout on a loaded machine): the database is
	// up throughout, so store-unavailable means some input broke a statement.
	for _, f := range fiveHundreds(entries) {
		if strings.HasSuffix(f, " store-unavailable") {
			t.Errorf("5xx answer: %s: the database is up, so a request broke a store call (see the daemon log)", f)
		} else {
			t.Logf("5xx answer: %s", f)
		}
	}
	if p := os.Getenv(envSummary); p != "" {
		report := fmt.Sprintf("contract test: schemathesis took %s\n%s\n\n%s", took.Round(time.Second), counts, strings.Join(outs, "\n"))
		require.NoError(t, os.WriteFile(p, []byte(report), 0o644))
	}
	auditRows(t, d, e, entries)
}

// daemon is one app.Run in this process.
type daemon struct {
	base    string
	dsn     string
	reports string
	logs    *syncBuffer
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// startDaemon runs the whole daemon on a free port until the test ends and returns once
// /readyz answers 200 (store, migrations, engine and the deployed onboard-user model).
func startDaemon(t *testing.T, camundaURL, dsn, token string) *daemon {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	yaml := fmt.Sprintf(`
instance: {id: contract}
log: {level: warn, format: console}
store:
  driver: postgres
  dsn: %q
  connectTimeout: 10s
camunda:
  url: %q
  asyncResponseTimeout: 2s
  requestTimeout: 5s
  pollBackoff: {initial: 100ms, max: 500ms}
  shutdownTimeout: 3s
topics:
  - {name: onboard-user/create-account, handler: onboard-user/create-account, lockDuration: 10s, retryBackoff: {initial: 100ms, max: 1s}}
  - name: onboard-user/prepare-response
    handler: onboard-user/prepare-response
    lockDuration: 10s
    retryBackoff: {initial: 100ms, max: 1s}
    result: {correlationVariable: correlationId, errorVariable: error, onMissingRow: insert}
  - {name: %s, handler: result, lockDuration: 10s, result: {correlationVariable: correlationId}}
waitroom:
  timeout: 1s
  pollInterval: 20ms
http:
  addr: "127.0.0.1:%d"
  authToken: %q
  maxBodyBytes: 65536
  readTimeout: 10s
  writeTimeout: 15s
  startableProcesses: [%s, %s]
retention: {enabled: false}
`, dsn, camundaURL, holdTopic, port, token, onboarduser.ProcessKey, holdKey)
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, _, err := config.Load(path, func(string) string { return "" })
	require.NoError(t, err, "config")

	logs := &syncBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(logs), zap.WarnLevel))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, log) }()
	d := &daemon{base: fmt.Sprintf("http://127.0.0.1:%d", port), dsn: dsn, reports: filepath.Join(dir, "reports"), logs: logs}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "app.Run")
		case <-time.After(30 * time.Second):
			t.Errorf("app.Run did not return within 30s of the cancellation")
		}
		if t.Failed() {
			t.Logf("daemon log, last lines:\n%s", tail(logs.String(), 120))
		}
	})
	enginetest.Eventually(t, 90*time.Second, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("app.Run returned: %v", err)
		default:
		}
		resp, err := http.Get(d.base + "/readyz")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		return true, nil
	}, "daemon ready")
	return d
}

// runSchemathesis runs schemathesis against the daemon, by openapi.json, with the settings of
// schemathesis.toml, the start operation fixed to process key, every phase (examples,
// coverage, fuzzing, stateful along the document's links), a fixed seed and a bound on
// examples per operation, writing a HAR of every request and answer and a JUnit report into
// dir.
func runSchemathesis(t *testing.T, st, base, token, dir, key string, maxExamples int, extra ...string) ([]byte, error) {
	t.Helper()
	cfgFile, err := filepath.Abs("schemathesis.toml")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The checked-in document (TestContract checks that the daemon serves it): loaded from
	// the daemon's URL, schemathesis would leave out the operation that served it.
	docFile, err := filepath.Abs(filepath.Join("..", "httpapi", "openapi.json"))
	require.NoError(t, err)
	args := []string{"--config-file", cfgFile, "run", docFile, "--url", base,
		"--seed", cmp.Or(os.Getenv(envSeed), seed), "--max-examples", strconv.Itoa(maxExamples),
		"--phases", "examples,coverage,fuzzing,stateful",
		"--workers", "1", "--request-timeout", "30",
		"--report", "har,junit", "--report-dir", dir,
		"--report-har-path", filepath.Join(dir, "har.json"),
		"--no-color", "--output-truncate", "false"}
	cmd := exec.CommandContext(ctx, st, append(args, extra...)...)
	cmd.Env = append(os.Environ(), "WAITROOM_TEST_CONTRACT_TOKEN="+token, "WAITROOM_TEST_CONTRACT_KEY="+key,
		"NO_COLOR=1", "COLUMNS=120",
		// Hypothesis keeps an example database in the working directory by default: not here.
		"HYPOTHESIS_STORAGE_DIRECTORY="+filepath.Join(t.TempDir(), "hypothesis"))
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.Bytes(), err
}

// harEntry is one request and its answer, as schemathesis's HAR report records them.
type harEntry struct {
	Request struct {
		Method   string `json:"method"`
		URL      string `json:"url"`
		PostData *struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
		} `json:"postData"`
	} `json:"request"`
	Response struct {
		Status  int `json:"status"`
		Content struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
		} `json:"content"`
	} `json:"response"`
}

func readHAR(t *testing.T, path string) []harEntry {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "schemathesis's HAR report")
	var har struct {
		Log struct {
			Entries []harEntry `json:"entries"`
		} `json:"log"`
	}
	require.NoError(t, json.Unmarshal(raw, &har), "parse the HAR report")
	return har.Log.Entries
}

// route names an entry's operation: its method and path template.
func (e harEntry) route() string {
	u, err := url.Parse(e.Request.URL)
	if err != nil {
		return e.Request.Method + " ?"
	}
	p := u.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/process/") && strings.HasSuffix(p, "/start"):
		p = "/process/{key}/start"
	case strings.HasPrefix(p, "/process/") && strings.Count(p, "/") == 3:
		p = "/process/{id}/" + p[strings.LastIndex(p, "/")+1:]
	}
	return e.Request.Method + " " + p
}

// answer is what an answer's JSON body says: the correlation id and the problem type, if any.
func (e harEntry) answer() (id, problem string) {
	var b struct {
		CorrelationID string `json:"correlationId"`
		Type          string `json:"type"`
	}
	_ = json.Unmarshal([]byte(e.Response.Content.Text), &b)
	return b.CorrelationID, strings.TrimPrefix(b.Type, "urn:camunda-waitroom:problem:")
}

// runCounts are the figures of the runs.
type runCounts struct {
	Operations int            // documented operations that got requests
	Requests   int            // requests sent (every phase, the checks' own probes included)
	ByRoute    map[string]int // requests per method and path
	ByStatus   map[int]int
	TestCases  []string // schemathesis's own count per run: test cases generated, passed, failed
}

func (c runCounts) String() string {
	var routes []string
	for r, n := range c.ByRoute {
		routes = append(routes, fmt.Sprintf("%s: %d", r, n))
	}
	sort.Strings(routes)
	var statuses []string
	for s, n := range c.ByStatus {
		statuses = append(statuses, fmt.Sprintf("%d: %d", s, n))
	}
	sort.Strings(statuses)
	return fmt.Sprintf("%d operations, %d requests\ntest cases per run: %s\nrequests by status: %s\nrequests by route: %s",
		c.Operations, c.Requests, strings.Join(c.TestCases, "; "), strings.Join(statuses, ", "), strings.Join(routes, ", "))
}

// testCases is schemathesis's closing count: "593 generated, 593 passed, 4 skipped".
var testCases = regexp.MustCompile(`(?m)^Test cases:\s*\n\s*(.+)$`)

func countRun(entries []harEntry, outs []string) runCounts {
	c := runCounts{ByRoute: map[string]int{}, ByStatus: map[int]int{}}
	documented := map[string]bool{"POST /process/{key}/start": true, "GET /process/{id}/result": true,
		"POST /process/{id}/complete": true, "POST /process/{id}/fail": true, "GET /healthz": true,
		"GET /readyz": true, "GET /metrics": true, "GET /openapi.json": true}
	for _, e := range entries {
		r := e.route()
		if documented[r] && c.ByRoute[r] == 0 {
			c.Operations++
		}
		c.ByRoute[r]++
		c.ByStatus[e.Response.Status]++
		c.Requests++
	}
	for _, out := range outs {
		if m := testCases.FindStringSubmatch(out); m != nil {
			c.TestCases = append(c.TestCases, strings.TrimSpace(m[1]))
		}
	}
	return c
}

// fiveHundreds lists the 5xx answers: route, status and problem type.
func fiveHundreds(entries []harEntry) []string {
	var out []string
	for _, e := range entries {
		if e.Response.Status >= 500 {
			_, typ := e.answer()
			out = append(out, fmt.Sprintf("%s %d %s", e.route(), e.Response.Status, typ))
		}
	}
	return out
}

// row is a process_store row as the audit reads it.
type row struct {
	ID, Status             string
	ProcessKey, InstanceID sql.NullString
	ErrorJSON              sql.NullString
	Attempt                sql.NullInt64
	LeaseLive              bool
}

func readRows(t *testing.T, dsn string) []row {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	rs, err := db.Query(`SELECT correlation_id, status, process_key, process_instance_id, error_json, start_attempt,
		COALESCE(start_lease_until > now(), false) FROM process_store ORDER BY correlation_id`)
	require.NoError(t, err)
	defer rs.Close()
	var rows []row
	for rs.Next() {
		var r row
		require.NoError(t, rs.Scan(&r.ID, &r.Status, &r.ProcessKey, &r.InstanceID, &r.ErrorJSON, &r.Attempt, &r.LeaseLive))
		rows = append(rows, r)
	}
	require.NoError(t, rs.Err())
	return rows
}

// instance is an engine process instance of a process the daemon starts, with its
// correlationId variable.
type instance struct {
	ID, Key, State, CorrelationID string
}

// engineInstances lists every instance of the startable processes the engine has run
// (history), with its correlationId variable.
func engineInstances(t *testing.T, e *topicstest.Engine) map[string]*instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]*instance{}
	for _, key := range []string{onboarduser.ProcessKey, holdKey} {
		var hist []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		require.NoError(t, e.Do(ctx, http.MethodGet, "/history/process-instance?processDefinitionKey="+key+"&maxResults=100000", nil, &hist))
		for _, h := range hist {
			out[h.ID] = &instance{ID: h.ID, Key: key, State: h.State}
		}
		var vars []struct {
			ProcessInstanceID string          `json:"processInstanceId"`
			Value             json.RawMessage `json:"value"`
		}
		require.NoError(t, e.Do(ctx, http.MethodGet, "/history/variable-instance?variableName=correlationId&processDefinitionKey="+key+"&deserializeValues=false&maxResults=100000", nil, &vars))
		for _, v := range vars {
			var s string
			if json.Unmarshal(v.Value, &s) == nil {
				if in := out[v.ProcessInstanceID]; in != nil {
					in.CorrelationID = s
				}
			}
		}
	}
	return out
}

// auditRows proves that no request left a half-written row. After every request has been
// answered, and once the processes that run have finished (polled with a deadline), the rows
// of process_store, the engine's instances and the answers schemathesis recorded must agree:
//
//  1. no row has an id that breaks the id rule (repo.ValidateID): a request that failed
//     validation wrote nothing;
//  2. every row was registered by a start of a startable process (its process_key is one):
//     no other request (result, complete, fail, a refused start) creates rows;
//  3. every row's id was announced by an answer that says a row exists (200, 202, 409, 422, a
//     502 or 503 with the id, or 400 start-rejected): a request answered as if nothing had
//     been written (any other 4xx, 503 not-ready or too-many-waiters) left no row;
//  4. no row is PENDING under a start claim without a process instance, unless an answer for
//     its id said the start's outcome is unknown (502 engine-error, 503 engine-unavailable):
//     a start that reached the engine recorded its instance;
//  5. every recorded instance exists in the engine and carries the row's id;
//  6. exactly one engine instance per correlation id, and none without a row;
//  7. no row is PENDING whose instance has ended: every result reached its row.
//
// The rows of holdKey stay PENDING with a running instance until a complete or fail finishes
// them; that is their design, and 4 to 7 hold for them as for the others.
func auditRows(t *testing.T, d *daemon, e *topicstest.Engine, entries []harEntry) {
	t.Helper()
	// What the answers said, per correlation id.
	announced := map[string]bool{}
	uncertain := map[string]bool{}
	for _, en := range entries {
		id, typ := en.answer()
		if id == "" || !strings.HasPrefix(en.route(), "POST /process/{key}/start") && !strings.HasPrefix(en.route(), "GET /process/{id}/result") {
			continue
		}
		switch s := en.Response.Status; {
		case s == 200, s == 202, s == 409, s == 422, s == 502, s == 503 && typ == "engine-unavailable", s == 400 && typ == "start-rejected":
			announced[id] = true
		}
		if typ == "engine-error" || typ == "engine-unavailable" {
			uncertain[id] = true
		}
	}

	// Settle: the processes started by the last requests finish within seconds.
	var rows []row
	var insts map[string]*instance
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows = readRows(t, d.dsn)
		insts = engineInstances(t, e)
		running := 0
		for _, in := range insts {
			if in.State == "ACTIVE" && in.Key != holdKey {
				running++
			}
		}
		pendingLive := 0
		for _, r := range rows {
			if r.Status == string(repo.StatusPending) && r.LeaseLive && !r.InstanceID.Valid {
				pendingLive++
			}
		}
		if running == 0 && pendingLive == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("after 60s, %d instances still run and %d starts hold a live claim without an instance", running, pendingLive)
			break
		}
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}

	byID := map[string][]*instance{}
	for _, in := range insts {
		byID[in.CorrelationID] = append(byID[in.CorrelationID], in)
	}
	rowIDs := map[string]bool{}
	var bad []string
	flag := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	states := map[string]int{}
	for _, r := range rows {
		rowIDs[r.ID] = true
		states[r.Status]++
		if err := repo.ValidateID(r.ID); err != nil {
			flag("1. row %q: its id breaks the id rule: %v", r.ID, err)
		}
		if k := r.ProcessKey.String; k != onboarduser.ProcessKey && k != holdKey {
			flag("2. row %q: registered for process %q, which is not startable", r.ID, k)
		}
		if !announced[r.ID] {
			flag("3. row %q (%s): no answer said a row exists for this id", r.ID, r.Status)
		}
		if r.Status == string(repo.StatusPending) && r.ProcessKey.Valid && !r.InstanceID.Valid && !uncertain[r.ID] {
			flag("4. row %q: PENDING under start claim %d without a process instance, and no answer said the start's outcome was unknown", r.ID, r.Attempt.Int64)
		}
		if r.InstanceID.Valid {
			in := insts[r.InstanceID.String]
			switch {
			case in == nil:
				flag("5. row %q: its instance %s is not in the engine", r.ID, r.InstanceID.String)
			case in.CorrelationID != r.ID:
				flag("5. row %q: its instance %s carries correlationId %q", r.ID, in.ID, in.CorrelationID)
			case r.Status == string(repo.StatusPending) && in.State != "ACTIVE":
				flag("7. row %q: PENDING, but its instance %s is %s", r.ID, in.ID, in.State)
			}
		}
	}
	for id, list := range byID {
		if len(list) > 1 {
			flag("6. correlation id %q: %d engine instances", id, len(list))
		}
		if !rowIDs[id] {
			flag("6. correlation id %q: an engine instance (%s) without a row", id, list[0].ID)
		}
	}
	t.Logf("row audit: %d rows (%v), %d engine instances, %d ids announced by answers", len(rows), states, len(insts), len(announced))
	if len(bad) > 0 {
		shown := bad[:min(len(bad), 40)]
		t.Errorf("%d findings of half-written or inconsistent rows after the run (first %d):\n%s", len(bad), len(shown), strings.Join(shown, "\n"))
	}
	require.NotEmpty(t, rows, "no start registered a row: the run did not exercise the start flow")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
