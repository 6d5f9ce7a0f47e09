package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/internal/retention"
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
}

// TestOptionsMapEveryKey: a non-default value of every mapped key reaches its component
// field (a key the mapping forgot would keep the component's default silently).
func TestOptionsMapEveryKey(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, _, err := config.Load("", func(k string) string {
		return map[string]string{
			"WAITROOM_WAITROOM_TIMEOUT":            "7s",
			"WAITROOM_WAITROOM_POLLINTERVAL":       "11ms",
			"WAITROOM_WAITROOM_NOTIFYPOLLINTERVAL": "3s",
			"WAITROOM_WAITROOM_NOTIFY":             "false",
			"WAITROOM_WAITROOM_MAXWAITERS":         "12",
			"WAITROOM_WAITROOM_CLEARONSHUTDOWN":    "true",
			"WAITROOM_RETENTION_BATCH":             "13",
			"WAITROOM_RETENTION_FINISHEDAFTER":     "48h",
			"WAITROOM_RETENTION_PENDINGAFTER":      "2h",
			"WAITROOM_RETENTION_INTERVAL":          "1m",
			"WAITROOM_HTTP_AUTHTOKEN":              "tok-123",
			"WAITROOM_HTTP_METRICSAUTH":            "true",
			"WAITROOM_HTTP_MAXBODYBYTES":           "2048",
			"WAITROOM_HTTP_STARTABLEPROCESSES":     "a,b",
			"WAITROOM_HTTP_STARTTIMEOUT":           "2s",
			"WAITROOM_HTTP_STARTLEASE":             "9s",
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
}
