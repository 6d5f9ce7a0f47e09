package topics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

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
