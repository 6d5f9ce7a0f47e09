package topics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
