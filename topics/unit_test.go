package topics

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

func ptr[T any](v T) *T { return &v }

func TestNextRetriesAndTimeout(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: time.Second, Max: 5 * time.Second}
	tests := []struct {
		name       string
		configured int
		current    *int
		retries    int
		timeout    time.Duration
	}{
		{"first failure of 3", 3, nil, 2, time.Second},
		{"second failure", 3, ptr(2), 1, 2 * time.Second},
		{"third failure: incident", 3, ptr(1), 0, 4 * time.Second},
		{"already 0 stays 0", 3, ptr(0), 0, 5 * time.Second},
		{"single attempt", 1, nil, 0, time.Second},
		{"capped at max", 10, ptr(5), 4, 5 * time.Second},
		{"engine has more than configured", 3, ptr(7), 6, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.retries, nextRetries(tt.configured, tt.current))
			assert.Equal(t, tt.timeout, retryTimeout(b, tt.configured, tt.current))
		})
	}
}

func TestFailureFor(t *testing.T) {
	t.Parallel()
	topic := Topic{Retries: 3, RetryBackoff: Backoff{Initial: time.Second, Max: time.Minute}}
	task := &Task{}

	fr := failureFor(topic, task, errors.New("boom"))
	assert.Equal(t, 2, fr.Retries)
	assert.Equal(t, int64(1000), fr.RetryTimeout)
	assert.Equal(t, "boom", fr.ErrorMessage)
	assert.Equal(t, "boom", fr.ErrorDetails)

	fr = failureFor(topic, task, fmt.Errorf("wrapped: %w", Permanent(errors.New("bad input"))))
	assert.Equal(t, 0, fr.Retries, "Permanent sends retries 0 even wrapped")
	assert.Equal(t, int64(0), fr.RetryTimeout)

	fr = failureFor(topic, task, &Failure{Err: errors.New("x"), Message: "custom", Details: "stack", RetryTimeout: ptr(3 * time.Second)})
	assert.Equal(t, 2, fr.Retries)
	assert.Equal(t, "custom: x", fr.ErrorMessage)
	assert.Equal(t, "stack", fr.ErrorDetails)
	assert.Equal(t, int64(3000), fr.RetryTimeout)

	long := strings.Repeat("é", 1000)
	fr = failureFor(topic, task, errors.New(long))
	assert.LessOrEqual(t, utf8.RuneCountInString(fr.ErrorMessage), maxErrorMessage)
	assert.True(t, strings.HasSuffix(fr.ErrorMessage, "…"))
	assert.True(t, utf8.ValidString(fr.ErrorMessage))
	assert.Equal(t, long, fr.ErrorDetails, "details keep the full error")

	// The JSON always carries retries, even 0: an absent retries is 0 to the engine too,
	// but explicit is what the API documents.
	b, err := json.Marshal(failureFor(topic, &Task{Retries: ptr(1)}, errors.New("x")))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"retries":0`)
}

func TestCutMessage(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "short", cutMessage("short", 10))
	assert.Equal(t, "abcd…", cutMessage("abcdefghijk", 5))
	// Astral runes count twice (Java chars).
	s := cutMessage(strings.Repeat("😀", 10), 7)
	assert.Equal(t, "😀😀😀…", s)
	assert.Equal(t, "ab…", cutMessage("ab   cdefgh", 6), "trailing blanks before the cut are dropped")
}

func TestFetchRequestShape(t *testing.T) {
	t.Parallel()
	topic := Topic{
		Name: "t/one", LockDuration: 2 * time.Second, MaxTasks: 5, MaxParallel: 3,
		Variables: []string{"a", "b"}, LocalVariables: true, BusinessKey: "bk",
		ProcessDefinitionKeyIn:      []string{"p1", "p2"},
		ProcessDefinitionVersionTag: "v1", TenantIDIn: []string{"t1"},
		ProcessVariables:           []VariableMatch{{Name: "Region", Value: "EU"}, {Name: "n", Value: 3}},
		IncludeExtensionProperties: true,
	}
	g := &group{usePriority: true, sorting: "createTime:desc", subs: []*sub{{cfg: topic}}, freed: make(chan struct{}, 1)}
	req, reserved, ok := g.plan("w1", 20*time.Second)
	require.True(t, ok)
	assert.Equal(t, 3, reserved[g.subs[0]], "maxTasks is capped by free slots")

	b, err := json.Marshal(req)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, "w1", m["workerId"])
	assert.Equal(t, float64(3), m["maxTasks"])
	assert.Equal(t, true, m["usePriority"])
	assert.Equal(t, float64(20000), m["asyncResponseTimeout"])
	assert.Equal(t, []any{map[string]any{"sortBy": "createTime", "sortOrder": "desc"}}, m["sorting"])
	topics := m["topics"].([]any)
	require.Len(t, topics, 1)
	tp := topics[0].(map[string]any)
	assert.Equal(t, "t/one", tp["topicName"])
	assert.Equal(t, float64(2000), tp["lockDuration"])
	assert.Equal(t, []any{"a", "b"}, tp["variables"])
	assert.Equal(t, true, tp["localVariables"])
	assert.Equal(t, "bk", tp["businessKey"])
	assert.Equal(t, []any{"p1", "p2"}, tp["processDefinitionKeyIn"], "an array, not a string")
	assert.Equal(t, "v1", tp["processDefinitionVersionTag"])
	assert.Equal(t, []any{"t1"}, tp["tenantIdIn"])
	assert.Equal(t, map[string]any{"Region": "EU", "n": float64(3)}, tp["processVariables"], "a map built from the list, names case-sensitive")
	assert.Equal(t, true, tp["includeExtensionProperties"])
	assert.NotContains(t, tp, "withoutTenantId")
	assert.NotContains(t, tp, "processDefinitionKey")

	wt, err := json.Marshal(buildTopic(Topic{Name: "x", LockDuration: time.Second, WithoutTenantID: true, ProcessDefinitionKey: "k"}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"topicName":"x","lockDuration":1000,"withoutTenantId":true,"processDefinitionKey":"k"}`, string(wt), "withoutTenantId is a bool")

	// No sorting configured: no sorting key at all (engine order).
	g2 := &group{subs: []*sub{{cfg: Topic{Name: "y", LockDuration: time.Second, MaxTasks: 1, MaxParallel: 1}}}, freed: make(chan struct{}, 1)}
	req2, _, _ := g2.plan("w", time.Second)
	b2, _ := json.Marshal(req2)
	assert.NotContains(t, string(b2), "sorting")
	assert.Contains(t, string(b2), `"usePriority":false`)
}

func TestPlanReservesSlots(t *testing.T) {
	t.Parallel()
	a := &sub{cfg: Topic{Name: "a", LockDuration: time.Second, MaxTasks: 10, MaxParallel: 4}}
	b := &sub{cfg: Topic{Name: "b", LockDuration: time.Second, MaxTasks: 2, MaxParallel: 10}}
	g := &group{subs: []*sub{a, b}, freed: make(chan struct{}, 1)}

	req, reserved, ok := g.plan("w", 20*time.Second)
	require.True(t, ok)
	assert.Equal(t, 2, req.MaxTasks, "smallest allowance: b's maxTasks")
	assert.Len(t, req.Topics, 2)
	assert.Equal(t, map[*sub]int{a: 2, b: 2}, reserved)
	assert.Equal(t, 2, a.active)

	// The answer used one slot of a: the rest comes back.
	g.release(a, 1)
	g.release(b, 2)
	a.active += 2 // two more a handlers start: a has 4-3 = 1 free
	req, reserved, ok = g.plan("w", 20*time.Second)
	require.True(t, ok)
	assert.Equal(t, 1, req.MaxTasks)
	assert.Equal(t, int64(20000), req.AsyncResponseTimeout)
	g.release(a, reserved[a])
	g.release(b, reserved[b])

	a.active = 4 // a full: left out, and the poll is kept short so a is polled again soon
	req, _, ok = g.plan("w", 20*time.Second)
	require.True(t, ok)
	require.Len(t, req.Topics, 1)
	assert.Equal(t, "b", req.Topics[0].TopicName)
	assert.Equal(t, saturatedPollTimeout.Milliseconds(), req.AsyncResponseTimeout)
	b.active = 10
	_, _, ok = g.plan("w", 20*time.Second)
	assert.False(t, ok, "no free slot: no poll")
}

func TestEngineErrorClassification(t *testing.T) {
	t.Parallel()
	locked := &EngineError{Op: "complete", Status: 400, Type: "BadUserRequestException", Message: "ExternalTask with id 'x' cannot be completed by worker 'a'. It is locked by worker 'b'."}
	expired := &EngineError{Op: "extendLock", Status: 400, Message: "Cannot extend a lock that expired"}
	gone := &EngineError{Op: "complete", Status: 404, Message: "External task with id x does not exist"}
	badVar := &EngineError{Op: "complete", Status: 400, Message: "Cannot deserialize object"}
	down := &EngineError{Op: "complete", Status: 503}
	for _, tt := range []struct {
		err             error
		lost, gone, rty bool
	}{
		{locked, true, false, false},
		{expired, true, false, false},
		{gone, false, true, false},
		{badVar, false, false, false},
		{down, false, false, true},
		{&EngineError{Status: 500, Message: "queue full"}, false, false, true},
		{fmt.Errorf("complete: %w", errors.New("connection refused")), false, false, true},
		{context.Canceled, false, false, false},
	} {
		assert.Equal(t, tt.lost, errors.Is(tt.err, ErrLockLost), "%v lock lost", tt.err)
		assert.Equal(t, tt.gone, errors.Is(tt.err, ErrTaskGone), "%v gone", tt.err)
		assert.Equal(t, tt.rty, retryable(tt.err), "%v retryable", tt.err)
	}
	assert.Contains(t, gone.Error(), "does not exist", "404 keeps the engine's message")
}

func TestTaskJSON(t *testing.T) {
	t.Parallel()
	task := &Task{Variables: map[string]Variable{
		"json":    {Type: "Json", Value: json.RawMessage(`"{\"a\": 1}"`)},
		"obj":     {Type: "Object", Value: json.RawMessage(`"{\"b\":2}"`), ValueInfo: map[string]any{"serializationDataFormat": "application/json", "objectTypeName": "java.util.HashMap"}},
		"javaobj": {Type: "Object", Value: json.RawMessage(`"rO0AB"`), ValueInfo: map[string]any{"serializationDataFormat": "application/x-java-serialized-object"}},
		"strdoc":  {Type: "String", Value: json.RawMessage(`"{\"c\":3}"`)},
		"str":     {Type: "String", Value: json.RawMessage(`"hello"`)},
		"strnum":  {Type: "String", Value: json.RawMessage(`"123"`)},
		"int":     {Type: "Integer", Value: json.RawMessage(`42`)},
		"long":    {Type: "Long", Value: json.RawMessage(`9007199254740993`)},
		"dbl":     {Type: "Double", Value: json.RawMessage(`1.5`)},
		"bool":    {Type: "Boolean", Value: json.RawMessage(`true`)},
		"null":    {Type: "Null", Value: json.RawMessage(`null`)},
		"bytes":   {Type: "Bytes", Value: json.RawMessage(`"AAE="`)},
	}}
	for name, want := range map[string]string{
		"json": `{"a": 1}`, "obj": `{"b":2}`, "strdoc": `{"c":3}`, "str": `"hello"`, "strnum": `"123"`,
		"int": `42`, "long": `9007199254740993`, "dbl": `1.5`, "bool": `true`, "null": `null`,
	} {
		got, err := task.JSON(name)
		require.NoError(t, err, name)
		assert.Equal(t, want, string(got), name)
	}
	_, err := task.JSON("javaobj")
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = task.JSON("bytes")
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = task.JSON("missing")
	assert.ErrorIs(t, err, ErrNoVariable)

	s, ok := task.String("str")
	assert.True(t, ok)
	assert.Equal(t, "hello", s)
	s, ok = task.String("int")
	assert.True(t, ok)
	assert.Equal(t, "42", s)
	_, ok = task.String("null")
	assert.False(t, ok)
	_, ok = task.String("missing")
	assert.False(t, ok)

	v, err := JSONVar(map[string]int{"x": 1})
	require.NoError(t, err)
	assert.Equal(t, "Json", v.Type)
	assert.Equal(t, `"{\"x\":1}"`, string(v.Value))
	_, err = RawJSONVar(json.RawMessage(`{`))
	assert.Error(t, err)
}

func TestRegistryBuild(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	h := HandlerFunc(func(context.Context, *Task) (Complete, error) { return Complete{}, nil })
	reg.Register("known", func(Topic, Deps) (Handler, error) { return h, nil })
	reg.Register("broken", func(Topic, Deps) (Handler, error) { return nil, errors.New("needs a store") })
	assert.Panics(t, func() { reg.Register("known", nil) })

	_, err := reg.build([]Topic{{Name: "a", Handler: "nope"}}, Deps{})
	assert.ErrorIs(t, err, ErrUnknownHandler)
	assert.ErrorContains(t, err, `"a"`)
	assert.ErrorContains(t, err, `"nope"`)

	_, err = reg.build([]Topic{{Name: "a", Handler: "known"}, {Name: "a", Handler: "known"}}, Deps{})
	assert.ErrorContains(t, err, `topic "a" is subscribed twice`)

	_, err = reg.build([]Topic{{Name: "b", Handler: "broken"}}, Deps{})
	assert.ErrorContains(t, err, "needs a store")

	hs, err := reg.build([]Topic{{Name: "known"}}, Deps{})
	require.NoError(t, err)
	assert.Len(t, hs, 1, "handler defaults to the topic name")
}

func TestRunHandlerRecoversPanics(t *testing.T) {
	t.Parallel()
	_, err, panicked := runHandler(context.Background(), HandlerFunc(func(context.Context, *Task) (Complete, error) {
		panic("kaput")
	}), &Task{})
	assert.True(t, panicked)
	var f *Failure
	require.ErrorAs(t, err, &f)
	assert.Nil(t, f.Retries, "a panic is retried like any failure")
	assert.Contains(t, f.Details, "kaput")
	assert.Contains(t, f.Details, "goroutine", "details carry the stack")
}

func TestNewHTTPClientTimeout(t *testing.T) {
	t.Parallel()
	hc, err := newHTTPClient(Options{AsyncResponseTimeout: 20 * time.Second}, nil)
	require.NoError(t, err)
	assert.Greater(t, hc.Timeout, 20*time.Second)
	_, err = newHTTPClient(Options{Engine: camunda.Config{TLS: camunda.TLS{CAFile: "/nonexistent.pem"}}}, nil)
	assert.ErrorContains(t, err, "camunda.tls.caFile")
	hc, err = newHTTPClient(Options{Engine: camunda.Config{TLS: camunda.TLS{InsecureSkipVerify: true}}}, nil)
	require.NoError(t, err)
	assert.True(t, hc.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify)
}

func TestAuthHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth camunda.Auth
		want string
	}{
		{"none", camunda.Auth{}, ""},
		{"basic", camunda.Auth{Username: "demo", Password: "s3cret"}, "Basic ZGVtbzpzM2NyZXQ="},
		{"bearer", camunda.Auth{Token: "tok"}, "Bearer tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("Authorization")
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			cfg := Options{Engine: camunda.Config{URL: srv.URL, Auth: tc.auth}, WorkerID: "w", RequestTimeout: time.Second, AsyncResponseTimeout: time.Second}
			hc, err := newHTTPClient(cfg, nil)
			require.NoError(t, err)
			defer hc.CloseIdleConnections()
			require.NoError(t, newEngine(cfg, hc).unlock(context.Background(), "t1"))
			assert.Equal(t, tc.want, <-got)
		})
	}
}

func TestEngineErrorKeepsMessage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"RestException","message":"External task with id t1 does not exist"}`))
	}))
	defer srv.Close()
	cfg := Options{Engine: camunda.Config{URL: srv.URL + "/"}, WorkerID: "w", RequestTimeout: time.Second, AsyncResponseTimeout: time.Second}
	hc, err := newHTTPClient(cfg, nil)
	require.NoError(t, err)
	defer hc.CloseIdleConnections()
	err = newEngine(cfg, hc).complete(context.Background(), "t1", Complete{})
	require.ErrorIs(t, err, ErrTaskGone)
	assert.Contains(t, err.Error(), "External task with id t1 does not exist")
	assert.Contains(t, err.Error(), "RestException")
}

func TestTLSWithCustomCA(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"version":"7.24.0"}`))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	call := func(tlsCfg camunda.TLS) error {
		cfg := Options{Engine: camunda.Config{URL: srv.URL, TLS: tlsCfg}, WorkerID: "w", RequestTimeout: 5 * time.Second, AsyncResponseTimeout: time.Second}
		hc, err := newHTTPClient(cfg, nil)
		require.NoError(t, err)
		defer hc.CloseIdleConnections()
		_, err = newEngine(cfg, hc).version(context.Background())
		return err
	}
	assert.Error(t, call(camunda.TLS{}), "an unknown CA is refused")
	assert.NoError(t, call(camunda.TLS{CAFile: caFile}))
	assert.NoError(t, call(camunda.TLS{InsecureSkipVerify: true}))
}

func TestDefaultsForZeroSettings(t *testing.T) {
	t.Parallel()
	c := Options{}.WithDefaults()
	assert.Equal(t, 20*time.Second, c.AsyncResponseTimeout, "zero would turn long polling off")
	assert.Equal(t, 30*time.Second, c.ShutdownTimeout)
	assert.Equal(t, 0.5, c.LockExtensionFraction)
	assert.Equal(t, Backoff{Initial: time.Second, Max: 30 * time.Second}, c.PollBackoff)

	kept := Options{AsyncResponseTimeout: time.Second, ShutdownTimeout: time.Minute}.WithDefaults()
	assert.Equal(t, time.Second, kept.AsyncResponseTimeout)
	assert.Equal(t, time.Minute, kept.ShutdownTimeout)
	assert.Equal(t, Backoff{Initial: time.Minute, Max: time.Minute}, Backoff{Initial: time.Minute}.withDefaults(time.Second, 30*time.Second),
		"a default max below the initial wait is raised to it")

	ts := withDefaults([]Topic{{Name: "a"}, {Name: "b", MaxParallel: 2, Retries: 1}})
	assert.Equal(t, LockDurationDefault, ts[0].LockDuration)
	assert.Equal(t, MaxTasksDefault, ts[0].MaxTasks)
	assert.Equal(t, MaxParallelDefault, ts[0].MaxParallel)
	assert.Equal(t, RetriesDefault, ts[0].Retries)
	assert.Equal(t, 2, ts[1].MaxParallel)
	assert.Equal(t, 1, ts[1].Retries)
}

// Options that cannot work are refused, naming the field.
func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	ok := Options{Engine: camunda.Config{URL: "http://engine/engine-rest"}, WorkerID: "w"}
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"no url":       {Options{WorkerID: "w"}, "Options.Engine.URL"},
		"no worker":    {Options{Engine: ok.Engine}, "Options.WorkerID"},
		"fraction":     {func() Options { o := ok; o.LockExtensionFraction = 1; return o }(), "Options.LockExtensionFraction"},
		"poll backoff": {func() Options { o := ok; o.PollBackoff = Backoff{Initial: time.Minute, Max: time.Second}; return o }(), "Options.PollBackoff"},
	} {
		_, err := New(tc.o, nil, nil, Deps{}, nil)
		require.ErrorContains(t, err, tc.want, name)
	}
	_, err := New(ok, []Topic{{Name: "a", LockDuration: -time.Second}}, nil, Deps{}, nil)
	require.ErrorContains(t, err, `topics[0]: topic "a": LockDuration`)
	_, err = NewFailover(ok, FailoverOptions{HeartbeatInterval: time.Minute, DeadAfter: time.Second}, nopBeats{}, nil)
	require.ErrorContains(t, err, "DeadAfter")
	_, err = New(ok, nil, nil, Deps{}, nil)
	require.NoError(t, err)
}

type nopBeats struct{ Heartbeats }

// The engine's version is logged when it first answers and again only when it changes; it is
// kept as the engine wrote it (Operaton numbers its releases 1.x, not 7.x).
func TestEngineVersionLoggedOnChange(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	r := &Runtime{cfg: Options{Engine: camunda.Config{URL: "http://user:secret@engine:8080/engine-rest"}}, log: zap.New(core)}
	require.Empty(t, r.EngineVersion())

	for _, v := range []string{"1.0.3", "1.0.3", "7.24.0", "7.24.0"} {
		r.engineAnswered(v)
	}
	require.Equal(t, "7.24.0", r.EngineVersion())
	entries := logs.FilterMessage("engine answered").All()
	require.Len(t, entries, 2, "logged at the first answer and at the change only")
	for i, want := range []string{"1.0.3", "7.24.0"} {
		fields := entries[i].ContextMap()
		assert.Equal(t, want, fields["engine_version"])
		assert.NotContains(t, fields["engine_url"], "secret", "the URL's password is redacted")
		assert.Contains(t, fields["engine_url"], "engine:8080/engine-rest")
	}
}
