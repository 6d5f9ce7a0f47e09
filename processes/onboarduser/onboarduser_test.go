package onboarduser_test

// Behaviour tests of the onboard-user process: the embedded model deployed to a real engine
// (Camunda 7.24 or Operaton, as WAITROOM_TEST_ENGINE says), the worker runtime with the registered handlers, and process_store on SQLite.
// The tests share the onboard-user topics, so they run one after another (no t.Parallel).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/processes"
	"github.com/camunda-waitroom/camunda-waitroom/processes/onboarduser"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/result"
	"github.com/camunda-waitroom/camunda-waitroom/topics/topicstest"
)

var engine *topicstest.Engine

func TestMain(m *testing.M) {
	code := topicstest.Main(m, &engine)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func camundaConfig(workerID string) topics.Options {
	return topics.Options{
		Engine: camunda.Config{URL: engine.URL}, WorkerID: workerID,
		AsyncResponseTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second,
		PollBackoff:     topics.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
		ShutdownTimeout: 5 * time.Second, LockExtensionFraction: 0.5,
	}
}

// subscriptions are config.yaml's two topics with test-sized durations.
func subscriptions() []topics.Topic {
	base := topics.Topic{LockDuration: 10 * time.Second, MaxTasks: 10, MaxParallel: 10, Retries: 3,
		RetryBackoff: topics.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}
	create, prepare := base, base
	create.Name, create.Handler = onboarduser.TopicCreateAccount, onboarduser.TopicCreateAccount
	prepare.Name, prepare.Handler = onboarduser.TopicPrepareResponse, onboarduser.TopicPrepareResponse
	prepare.HandlerOptions = result.Options{CorrelationVariable: "correlationId", ErrorVariable: "error", OnMissingRow: result.MissingRowInsert}
	return []topics.Topic{create, prepare}
}

// openStore is a fresh, migrated SQLite process_store.
func openStore(t *testing.T) repo.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.OpenDB("file:" + filepath.Join(t.TempDir(), "waitroom.db"))
	require.NoError(t, err)
	require.NoError(t, migrations.Up(ctx, db, repo.DriverSQLite))
	s, err := sqlite.New(ctx, db, repo.Options{Driver: repo.DriverSQLite, Owner: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

type env struct {
	store repo.Store
	rt    *topics.Runtime
}

// startWorker deploys the models and runs the worker with every registered handler until the
// test ends.
func startWorker(t *testing.T, subs []topics.Topic) *env {
	t.Helper()
	return startWorkerWith(t, subs, func(s repo.Store) result.Finisher { return s })
}

// startWorkerWith is startWorker with the Finisher wrapping the store.
func startWorkerWith(t *testing.T, subs []topics.Topic, finisher func(repo.Store) result.Finisher) *env {
	t.Helper()
	topicstest.Need(t, engine)
	ctx := context.Background()
	cam := camundaConfig("onboard-" + randHex(3))
	_, err := processes.Deploy(ctx, cam)
	require.NoError(t, err)

	store := openStore(t)
	reg := topics.NewRegistry()
	processes.RegisterAll(reg, finisher(store))
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	rt, err := topics.New(cam, subs, reg, topics.Deps{Log: log}, log)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	return &env{store: store, rt: rt}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) waitFinished(t *testing.T, id string) repo.Record {
	t.Helper()
	var rec repo.Record
	topicstest.Eventually(t, 30*time.Second, func() bool {
		r, err := e.store.Find(context.Background(), id)
		if err != nil {
			return false
		}
		rec = r
		return r.Status.Finished()
	}, "row %s did not finish", id)
	return rec
}

func start(t *testing.T, vars topics.Variables) string {
	t.Helper()
	return engine.StartProcess(t, onboarduser.ProcessKey, vars)
}

func TestOnboardUserDone(t *testing.T) {
	e := startWorker(t, subscriptions())
	ctx := context.Background()
	type run struct{ id, instance string }
	var runs []run
	for i := range 5 {
		id := "corr-done-" + randHex(4)
		_, err := e.store.Create(ctx, id)
		require.NoError(t, err)
		inst := start(t, topics.Variables{
			"correlationId": topics.StringVar(id),
			"email":         topics.StringVar(fmt.Sprintf("user%d@example.com", i)),
			"name":          topics.StringVar(fmt.Sprintf("User %d", i)),
		})
		runs = append(runs, run{id, inst})
	}
	for i, r := range runs {
		rec := e.waitFinished(t, r.id)
		require.Equal(t, repo.StatusDone, rec.Status, "error body: %s", rec.Error)
		var payload struct {
			AccountID string           `json:"accountId"`
			User      onboarduser.User `json:"user"`
		}
		require.NoError(t, json.Unmarshal(rec.Payload, &payload), "%s", rec.Payload)
		assert.Regexp(t, `^acc-[0-9a-f]{16}$`, payload.AccountID)
		assert.Equal(t, onboarduser.User{AccountID: payload.AccountID, Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i)}, payload.User)
		var keys map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(rec.Payload, &keys))
		assert.Len(t, keys, 2, "payload is exactly accountId and user: %s", rec.Payload)
		topicstest.Eventually(t, 10*time.Second, func() bool { return engine.Ended(t, r.instance) }, "instance did not end")
	}
	assert.NoError(t, e.rt.Ready())
}

func TestOnboardUserInvalidInput(t *testing.T) {
	e := startWorker(t, subscriptions())
	ctx := context.Background()
	for _, tc := range []struct {
		name, email, userName, field string
	}{
		{"bad email", "not-an-email", "Ann", "email"},
		{"empty name", "ann@example.com", "  ", "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "corr-bad-" + randHex(4)
			_, err := e.store.Create(ctx, id)
			require.NoError(t, err)
			inst := start(t, topics.Variables{
				"correlationId": topics.StringVar(id),
				"email":         topics.StringVar(tc.email),
				"name":          topics.StringVar(tc.userName),
			})
			rec := e.waitFinished(t, id)
			require.Equal(t, repo.StatusError, rec.Status, "payload: %s", rec.Payload)
			var body onboarduser.InputError
			require.NoError(t, json.Unmarshal(rec.Error, &body), "%s", rec.Error)
			assert.Equal(t, onboarduser.ErrorCodeInvalidInput, body.Code)
			assert.Equal(t, tc.field, body.Field)
			assert.NotEmpty(t, body.Message)
			assert.Nil(t, rec.Payload)
			topicstest.Eventually(t, 10*time.Second, func() bool { return engine.Ended(t, inst) }, "instance did not end")
			assert.Empty(t, engine.Incidents(t, inst))
		})
	}
}

func TestNoCorrelationIDRaisesIncident(t *testing.T) {
	startWorker(t, subscriptions())
	inst := start(t, topics.Variables{"email": topics.StringVar("a@example.com"), "name": topics.StringVar("A")})
	var inc []topicstest.Incident
	topicstest.Eventually(t, 30*time.Second, func() bool {
		inc = engine.Incidents(t, inst)
		return len(inc) > 0
	}, "no incident")
	assert.Equal(t, "prepare-response", inc[0].ActivityID)
	assert.Contains(t, inc[0].IncidentMessage, `"correlationId"`, "the incident names the variable")
	tasks := engine.ExternalTasks(t, url.Values{"processInstanceId": {inst}})
	require.Len(t, tasks, 1)
	require.NotNil(t, tasks[0].Retries)
	assert.Equal(t, 0, *tasks[0].Retries, "failed once with retries 0, no retry")
}

func TestMissingRowIsInsertedFinished(t *testing.T) {
	e := startWorker(t, subscriptions())
	id := "corr-late-" + randHex(4)
	start(t, topics.Variables{
		"correlationId": topics.StringVar(id),
		"email":         topics.StringVar("late@example.com"),
		"name":          topics.StringVar("Late"),
	})
	rec := e.waitFinished(t, id)
	assert.Equal(t, repo.StatusDone, rec.Status)
	assert.Contains(t, string(rec.Payload), "late@example.com")
	assert.Empty(t, rec.Owner, "inserted finished, with no owner")
}

func TestDeployIsIdempotent(t *testing.T) {
	topicstest.Need(t, engine)
	ctx := context.Background()
	cam := camundaConfig("deploy-test")
	_, err := processes.Deploy(ctx, cam)
	require.NoError(t, err)
	d, err := processes.Deploy(ctx, cam)
	require.NoError(t, err)
	assert.Empty(t, d.DeployedProcessDefinitions, "unchanged models deploy nothing new")
}

// flakyStore is the real store with an outage switch: while down, writes fail as a database
// that does not answer would.
type flakyStore struct {
	repo.Store
	down atomic.Bool
}

var errDown = errors.New("dial tcp 10.0.0.1:1433: connect: connection refused")

func (f *flakyStore) Complete(ctx context.Context, id string, p json.RawMessage) (repo.Outcome, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.Store.Complete(ctx, id, p)
}

func (f *flakyStore) Fail(ctx context.Context, id string, b json.RawMessage) (repo.Outcome, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.Store.Fail(ctx, id, b)
}

// TestStoreDownIsRetried: while process_store is down, prepare-response fails with retries
// (no incident); once it is back the row becomes DONE.
func TestStoreDownIsRetried(t *testing.T) {
	flaky := &flakyStore{}
	flaky.down.Store(true)
	e := startWorkerWith(t, subscriptions(), func(s repo.Store) result.Finisher { flaky.Store = s; return flaky })
	id := "corr-down-" + randHex(4)
	_, err := e.store.Create(context.Background(), id)
	require.NoError(t, err)
	inst := start(t, topics.Variables{
		"correlationId": topics.StringVar(id),
		"email":         topics.StringVar("d@example.com"),
		"name":          topics.StringVar("D"),
	})
	topicstest.Eventually(t, 30*time.Second, func() bool {
		tasks := engine.ExternalTasks(t, url.Values{"processInstanceId": {inst}, "activityId": {"prepare-response"}})
		return len(tasks) == 1 && tasks[0].Retries != nil && *tasks[0].Retries == 2
	}, "prepare-response did not fail with retries 2")
	flaky.down.Store(false)
	rec := e.waitFinished(t, id)
	assert.Equal(t, repo.StatusDone, rec.Status)
	topicstest.Eventually(t, 10*time.Second, func() bool { return engine.Ended(t, inst) }, "instance did not end")
	assert.Empty(t, engine.Incidents(t, inst))
}
