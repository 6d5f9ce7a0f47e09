package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/internal/retention"
	"github.com/camunda-waitroom/camunda-waitroom/processes"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/result"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// TestConfigDefaultsAreTheComponentDefaults: the configuration with no file and no environment
// (config.yaml's embedded defaults) maps onto exactly the defaults the components declare, so
// changing one without the other fails here. Fields the YAML does not set are left out of
// the comparison: the waitroom's query and stop timeouts (the daemon sets the stop timeout
// from its stop budget), the API's readiness timeout and its collaborators.
func TestConfigDefaultsAreTheComponentDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./config.yaml: only the embedded defaults
	cfg, src, err := config.Load("", func(string) string { return "" })
	require.NoError(t, err)
	require.Empty(t, src.File)

	wantRoom := waitroom.Options{}.WithDefaults()
	wantRoom.QueryTimeout, wantRoom.StopTimeout = 0, 0
	require.Equal(t, wantRoom, roomOptions(cfg), "config.yaml's waitroom section against waitroom.Options' defaults")

	require.Equal(t, retention.Options{}.WithDefaults(), retentionOptions(cfg),
		"config.yaml's retention section against retention.Options' defaults")

	gotAPI := apiOptions(cfg)
	require.Empty(t, gotAPI.Startable, "no http.startableProcesses by default: Run serves the embedded models")
	gotAPI.Startable = nil
	wantAPI := httpapi.Config{}.WithDefaults()
	wantAPI.Log, wantAPI.ReadyTimeout = nil, 0
	require.Equal(t, wantAPI, gotAPI, "config.yaml's http section against httpapi.Config's defaults")

	gotTopics := topicsOptions(cfg)
	require.Equal(t, "http://localhost:8080/engine-rest", gotTopics.Engine.URL)
	require.NotEmpty(t, gotTopics.WorkerID, "config.Load makes a worker id")
	gotTopics.Engine.URL, gotTopics.WorkerID = "", ""
	require.Equal(t, topics.Options{}.WithDefaults(), gotTopics, "config.yaml's camunda section against topics.Options' defaults")
	require.Equal(t, topics.FailoverOptions{}.WithDefaults(), failoverOptions(cfg),
		"config.yaml's failover section against topics.FailoverOptions' defaults")
}

// TestTopicDefaultsAreTheComponentDefaults: a topic entry with only a name gets, through
// config.Load, exactly the defaults topics.Topic and result.Options declare (the topic defaults
// live in config's Go code, not in config.yaml, as YAML lists replace lists).
func TestTopicDefaultsAreTheComponentDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(path, []byte("topics:\n  - name: only-a-name\n"), 0o600))
	cfg, _, err := config.Load(path, func(string) string { return "" })
	require.NoError(t, err)
	subs := subscriptions(cfg)
	require.Len(t, subs, 1)
	want := topics.Topic{Name: "only-a-name", Handler: "only-a-name", HandlerOptions: result.Options{}.WithDefaults()}.WithDefaults()
	require.Equal(t, want, subs[0], "a topic's defaults against topics.Topic's and result.Options' defaults")
}

// TestShippedConfigResolves: every topic of the shipped config.yaml names a registered
// handler and builds with a store.
func TestShippedConfigResolves(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, _, err := config.Load("", func(string) string { return "" })
	require.NoError(t, err)
	reg := topics.NewRegistry()
	processes.RegisterAll(reg, nopFinisher{})
	_, err = topics.New(topicsOptions(cfg), subscriptions(cfg), reg, topics.Deps{}, nil)
	require.NoError(t, err)
}

type nopFinisher struct{ result.Finisher }

// TestOptionsMapEveryKey: a non-default value of every mapped key reaches its component
// field (a key the mapping forgot would keep the component's default silently).
func TestOptionsMapEveryKey(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, _, err := config.Load("", func(k string) string {
		return map[string]string{
			"WAITROOM_WAITROOM_TIMEOUT":               "7s",
			"WAITROOM_WAITROOM_POLLINTERVAL":          "11ms",
			"WAITROOM_WAITROOM_NOTIFYPOLLINTERVAL":    "3s",
			"WAITROOM_WAITROOM_NOTIFY":                "false",
			"WAITROOM_WAITROOM_MAXWAITERS":            "12",
			"WAITROOM_WAITROOM_CLEARONSHUTDOWN":       "true",
			"WAITROOM_RETENTION_BATCH":                "13",
			"WAITROOM_RETENTION_FINISHEDAFTER":        "48h",
			"WAITROOM_RETENTION_PENDINGAFTER":         "2h",
			"WAITROOM_RETENTION_INTERVAL":             "1m",
			"WAITROOM_HTTP_AUTHTOKEN":                 "tok-123",
			"WAITROOM_HTTP_METRICSAUTH":               "true",
			"WAITROOM_HTTP_MAXBODYBYTES":              "2048",
			"WAITROOM_HTTP_STARTABLEPROCESSES":        "a,b",
			"WAITROOM_HTTP_STARTTIMEOUT":              "2s",
			"WAITROOM_HTTP_STARTLEASE":                "9s",
			"WAITROOM_CAMUNDA_URL":                    "https://engine:8443/engine-rest",
			"WAITROOM_CAMUNDA_WORKERID":               "w-1",
			"WAITROOM_CAMUNDA_TENANTID":               "t1",
			"WAITROOM_CAMUNDA_AUTH_USERNAME":          "demo",
			"WAITROOM_CAMUNDA_AUTH_PASSWORD":          "pw",
			"WAITROOM_CAMUNDA_TLS_INSECURESKIPVERIFY": "true",
			"WAITROOM_CAMUNDA_ASYNCRESPONSETIMEOUT":   "5s",
			"WAITROOM_CAMUNDA_REQUESTTIMEOUT":         "6s",
			"WAITROOM_CAMUNDA_USEPRIORITY":            "true",
			"WAITROOM_CAMUNDA_SORTING":                "createTime:asc",
			"WAITROOM_CAMUNDA_POLLBACKOFF_INITIAL":    "2s",
			"WAITROOM_CAMUNDA_POLLBACKOFF_MAX":        "8s",
			"WAITROOM_CAMUNDA_SHUTDOWNTIMEOUT":        "40s",
			"WAITROOM_CAMUNDA_LOCKEXTENSIONFRACTION":  "0.25",
			"WAITROOM_FAILOVER_HEARTBEATINTERVAL":     "2s",
			"WAITROOM_FAILOVER_DEADAFTER":             "9s",
		}[k]
	})
	require.NoError(t, err)
	require.Equal(t, waitroom.Options{ClearOnShutdown: true, MaxWaiters: 12, NotifyPollInterval: 3e9,
		PollInterval: 11e6, PollOnly: true, Timeout: 7e9}, roomOptions(cfg))
	require.Equal(t, retention.Options{Batch: 13, FinishedAfter: 48 * 3600e9, Interval: 60e9, PendingAfter: 2 * 3600e9},
		retentionOptions(cfg))
	require.Equal(t, httpapi.Config{AuthToken: "tok-123", CorrelationVariable: config.DefaultCorrelationVariable,
		MaxBodyBytes: 2048, MaxResultWait: 7e9, MetricsAuth: true, Startable: []string{"a", "b"}, StartLease: 9e9,
		StartTimeout: 2e9, WaitTimeout: 7e9}, apiOptions(cfg))
	require.Equal(t, topics.Options{
		Engine: camunda.Config{URL: "https://engine:8443/engine-rest", Auth: camunda.Auth{Username: "demo", Password: "pw"},
			TLS: camunda.TLS{InsecureSkipVerify: true}},
		WorkerID: "w-1", TenantID: "t1", AsyncResponseTimeout: 5e9, RequestTimeout: 6e9, UsePriority: true,
		Sorting: "createTime:asc", PollBackoff: topics.Backoff{Initial: 2e9, Max: 8e9}, ShutdownTimeout: 40e9,
		LockExtensionFraction: 0.25,
	}, topicsOptions(cfg))
	require.Equal(t, topics.FailoverOptions{HeartbeatInterval: 2e9, DeadAfter: 9e9}, failoverOptions(cfg))
}

// TestSubscriptionsMapEveryField: every field of a topic entry reaches topics.Topic or its
// result.Options.
func TestSubscriptionsMapEveryField(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "worker.yaml")
	yaml := `topics:
  - name: a
    handler: result
    lockDuration: 11s
    maxTasks: 3
    maxParallel: 4
    variables: [x, y]
    localVariables: true
    businessKey: bk
    processDefinitionKeyIn: [p1, p2]
    processDefinitionVersionTag: v1
    tenantIdIn: [t1]
    processVariables: [{name: n, value: 5}]
    usePriority: true
    sorting: createTime:desc
    includeExtensionProperties: true
    retries: 7
    retryBackoff: {initial: 2s, max: 9s}
    result: {correlationVariable: c, variables: [v], errorVariable: e, onMissingRow: fail}
  - name: b
    processDefinitionKey: p3
    withoutTenantId: true
`
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, _, err := config.Load(path, func(string) string { return "" })
	require.NoError(t, err)
	subs := subscriptions(cfg)
	require.Len(t, subs, 2)
	yes, desc := true, "createTime:desc"
	require.Equal(t, topics.Topic{
		Name: "a", Handler: "result",
		HandlerOptions: result.Options{CorrelationVariable: "c", Variables: []string{"v"}, ErrorVariable: "e", OnMissingRow: result.MissingRowFail},
		LockDuration:   11e9, MaxTasks: 3, MaxParallel: 4, Variables: []string{"x", "y"}, LocalVariables: true,
		BusinessKey: "bk", ProcessDefinitionKeyIn: []string{"p1", "p2"}, ProcessDefinitionVersionTag: "v1",
		TenantIDIn: []string{"t1"}, ProcessVariables: []topics.VariableMatch{{Name: "n", Value: subs[0].ProcessVariables[0].Value}},
		UsePriority: &yes, Sorting: &desc, IncludeExtensionProperties: true, Retries: 7,
		RetryBackoff: topics.Backoff{Initial: 2e9, Max: 9e9},
	}, subs[0])
	require.EqualValues(t, 5, subs[0].ProcessVariables[0].Value)
	require.Equal(t, "p3", subs[1].ProcessDefinitionKey)
	require.True(t, subs[1].WithoutTenantID)
}

// The OAuth2 and mutual-TLS keys reach the engine client's configuration.
func TestEngineConfigMapsOAuth2AndClientCert(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, _, err := config.Load("", func(k string) string {
		return map[string]string{
			"WAITROOM_CAMUNDA_AUTH_OAUTH2_TOKENURL":     "https://idp/token",
			"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTID":     "worker",
			"WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET": "s3cret",
			"WAITROOM_CAMUNDA_AUTH_OAUTH2_SCOPES":       "engine,tasks",
		}[k]
	})
	require.NoError(t, err)
	e := engineConfig(cfg)
	require.Equal(t, camunda.OAuth2{TokenURL: "https://idp/token", ClientID: "worker", ClientSecret: "s3cret", Scopes: []string{"engine", "tasks"}}, e.Auth.OAuth2)
	require.Empty(t, e.Auth.Username)
}
