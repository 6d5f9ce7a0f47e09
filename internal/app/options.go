package app

import (
	"context"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/internal/retention"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/result"
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

// engineConfig maps camunda.url, camunda.auth and camunda.tls onto the engine client's
// configuration. Its timeout stays 0: the runtime derives its own from the long poll.
func engineConfig(cfg *config.Config) camunda.Config {
	c := cfg.Camunda
	e := camunda.Config{
		URL:  c.URL,
		Auth: camunda.Auth{Username: c.Auth.Username, Password: c.Auth.Password, Token: c.Auth.Token},
		TLS:  camunda.TLS{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify},
	}
	if o := c.Auth.OAuth2; o.TokenURL != "" {
		e.Auth.OAuth2 = camunda.OAuth2{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes}
	}
	return e
}

// topicsOptions maps the camunda section onto the external-task runtime's options
// (camunda.deployOnStart decides whether Run deploys at all).
func topicsOptions(cfg *config.Config) topics.Options {
	c := cfg.Camunda
	return topics.Options{
		Engine:                engineConfig(cfg),
		WorkerID:              c.WorkerID,
		TenantID:              c.TenantID,
		AsyncResponseTimeout:  c.AsyncResponseTimeout,
		RequestTimeout:        c.RequestTimeout,
		UsePriority:           c.UsePriority,
		Sorting:               c.Sorting,
		PollBackoff:           topics.Backoff{Initial: c.PollBackoff.Initial, Max: c.PollBackoff.Max},
		ShutdownTimeout:       c.ShutdownTimeout,
		LockExtensionFraction: c.LockExtensionFraction,
	}
}

// subscriptions maps the topics section. Every topic carries its result section as its
// handler's options (a result.Options): the result handlers read it, the others ignore it.
func subscriptions(cfg *config.Config) []topics.Topic {
	out := make([]topics.Topic, 0, len(cfg.Topics))
	for _, t := range cfg.Topics {
		var pvs []topics.VariableMatch
		for _, pv := range t.ProcessVariables {
			pvs = append(pvs, topics.VariableMatch{Name: pv.Name, Value: pv.Value})
		}
		out = append(out, topics.Topic{
			Name:                        t.Name,
			Handler:                     t.Handler,
			HandlerOptions:              resultOptions(t.Result),
			LockDuration:                t.LockDuration,
			MaxTasks:                    t.MaxTasks,
			MaxParallel:                 t.MaxParallel,
			Variables:                   t.Variables,
			LocalVariables:              t.LocalVariables,
			BusinessKey:                 t.BusinessKey,
			ProcessDefinitionKey:        t.ProcessDefinitionKey,
			ProcessDefinitionKeyIn:      t.ProcessDefinitionKeyIn,
			ProcessDefinitionVersionTag: t.ProcessDefinitionVersionTag,
			TenantIDIn:                  t.TenantIDIn,
			WithoutTenantID:             t.WithoutTenantID,
			ProcessVariables:            pvs,
			UsePriority:                 t.UsePriority,
			Sorting:                     t.Sorting,
			IncludeExtensionProperties:  t.IncludeExtensionProperties,
			Retries:                     t.Retries,
			RetryBackoff:                topics.Backoff{Initial: t.RetryBackoff.Initial, Max: t.RetryBackoff.Max},
		})
	}
	return out
}

// resultOptions maps a topic's result section.
func resultOptions(r config.Result) result.Options {
	return result.Options{
		CorrelationVariable: r.CorrelationVariable,
		Variables:           r.Variables,
		ErrorVariable:       r.ErrorVariable,
		OnMissingRow:        r.OnMissingRow,
	}
}

// failoverOptions maps the failover section (failover.enabled decides whether Run starts
// the loop at all).
func failoverOptions(cfg *config.Config) topics.FailoverOptions {
	return topics.FailoverOptions{HeartbeatInterval: cfg.Failover.HeartbeatInterval, DeadAfter: cfg.Failover.DeadAfter}
}

// heartbeats adapts the store's heartbeat record (repo.Heartbeats) to the failover loop's
// (topics.Heartbeats): topics does not know the store.
type heartbeats struct{ repo.Heartbeats }

// Workers converts the store's rows to the failover loop's type.
func (h heartbeats) Workers(ctx context.Context) ([]topics.WorkerBeat, error) {
	ws, err := h.Heartbeats.Workers(ctx)
	out := make([]topics.WorkerBeat, len(ws))
	for i, w := range ws {
		out[i] = topics.WorkerBeat{WorkerID: w.WorkerID, Age: w.Age}
	}
	return out, err
}
