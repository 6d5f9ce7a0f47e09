package app

import (
	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/internal/retention"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// The daemon's YAML onto the components' own options. The library packages own their options
// and defaults (waitroom.Options, retention.Options, httpapi.Config) and do not import config;
// these functions are the only place that knows both. options_test.go checks that the
// defaults of config.yaml map onto the components' defaults, so the two cannot drift apart.

// roomOptions maps the waitroom section.
func roomOptions(cfg *config.Config) waitroom.Options {
	w := cfg.Waitroom
	return waitroom.Options{
		ClearOnShutdown:    w.ClearOnShutdown,
		MaxWaiters:         w.MaxWaiters,
		NotifyPollInterval: w.NotifyPollInterval,
		PollInterval:       w.PollInterval,
		PollOnly:           !w.Notify,
		Timeout:            w.Timeout,
	}
}

// retentionOptions maps the retention section (retention.enabled decides whether the job
// runs at all: see Run).
func retentionOptions(cfg *config.Config) retention.Options {
	r := cfg.Retention
	return retention.Options{
		Batch:         r.Batch,
		FinishedAfter: r.FinishedAfter,
		Interval:      r.Interval,
		PendingAfter:  r.PendingAfter,
	}
}

// apiOptions maps the http section, and the waitroom's timeout as the wait of a start, onto
// the API's settings; Run adds the collaborators (waitroom, store, starter, checks, metrics).
// An empty http.startableProcesses means the embedded models: Run fills that in too.
func apiOptions(cfg *config.Config) httpapi.Config {
	h := cfg.HTTP
	return httpapi.Config{
		AuthToken:           h.AuthToken,
		CorrelationVariable: config.DefaultCorrelationVariable,
		MaxBodyBytes:        int64(h.MaxBodyBytes),
		MaxResultWait:       cfg.Waitroom.Timeout,
		MetricsAuth:         h.MetricsAuth,
		Startable:           h.StartableProcesses,
		StartLease:          h.StartLease,
		StartTimeout:        h.StartTimeout,
		WaitTimeout:         cfg.Waitroom.Timeout,
	}
}
