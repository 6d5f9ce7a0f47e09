// Package metrics is the daemon's Prometheus instrumentation: it implements the metrics hooks
// of the topics runtime and the waitroom, and counts store calls, on one registry that
// /metrics serves.
package metrics

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

const ns = "camunda_waitroom"

// Metrics holds every collector. Create it with New; it implements topics.Metrics and
// waitroom.Metrics.
type Metrics struct {
	Registry *prometheus.Registry

	fetched, completed, failed, bpmnErrors, unlocked, lockLost, lockExtended, panics *prometheus.CounterVec
	handlerDuration                                                                  *prometheus.HistogramVec
	fetchErrors                                                                      prometheus.Counter
	reportErrors                                                                     *prometheus.CounterVec
	waiters                                                                          prometheus.Gauge
	wake                                                                             *prometheus.HistogramVec
	storeCalls, storeErrors                                                          *prometheus.CounterVec
	storeDuration                                                                    *prometheus.HistogramVec
}

var (
	_ topics.Metrics   = (*Metrics)(nil)
	_ waitroom.Metrics = (*Metrics)(nil)
)

// New creates the collectors on a fresh registry, with the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	perTopic := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, []string{"topic"})
		reg.MustRegister(c)
		return c
	}
	m := &Metrics{Registry: reg}
	m.fetched = perTopic("tasks_fetched_total", "External tasks fetched and locked, by topic.")
	m.completed = perTopic("tasks_completed_total", "External tasks completed, by topic.")
	m.failed = perTopic("tasks_failed_total", "External task failures reported to the engine, by topic.")
	m.bpmnErrors = perTopic("tasks_bpmn_errors_total", "BPMN errors thrown, by topic.")
	m.unlocked = perTopic("tasks_unlocked_total", "Fetched tasks handed back unworked (shutdown), by topic.")
	m.lockLost = perTopic("tasks_lock_lost_total", "Tasks whose lock another worker took or that expired, by topic.")
	m.lockExtended = perTopic("lock_extensions_total", "Lock extensions of long-running handlers, by topic.")
	m.panics = perTopic("handler_panics_total", "Handler panics (reported as failures with retries), by topic.")
	m.handlerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "handler_duration_seconds", Help: "Handler run time, by topic.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"topic"})
	m.fetchErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "fetch_errors_total", Help: "Failed fetch-and-lock polls."})
	m.reportErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "report_errors_total", Help: "Outcomes that could not be reported to the engine after retries, by topic and operation.",
	}, []string{"topic", "op"})
	m.waiters = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "waiters", Help: "Waits in progress in this process."})
	m.wake = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "wake_latency_seconds", Help: "Time from a row's update (database clock) to its waiter waking, by wake source.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"source"})
	m.storeCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "store_calls_total", Help: "process_store operations, by operation."}, []string{"op"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "store_errors_total", Help: "process_store operations that failed, by operation."}, []string{"op"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "store_duration_seconds", Help: "process_store operation time, by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"op"})
	reg.MustRegister(m.handlerDuration, m.fetchErrors, m.reportErrors, m.waiters, m.wake, m.storeCalls, m.storeErrors, m.storeDuration)
	return m
}

// topics.Metrics

func (m *Metrics) TasksFetched(topic string, n int) { m.fetched.WithLabelValues(topic).Add(float64(n)) }
func (m *Metrics) TaskCompleted(topic string)       { m.completed.WithLabelValues(topic).Inc() }
func (m *Metrics) TaskFailed(topic string)          { m.failed.WithLabelValues(topic).Inc() }
func (m *Metrics) TaskBPMNError(topic string)       { m.bpmnErrors.WithLabelValues(topic).Inc() }
func (m *Metrics) TaskUnlocked(topic string)        { m.unlocked.WithLabelValues(topic).Inc() }
func (m *Metrics) LockLost(topic string)            { m.lockLost.WithLabelValues(topic).Inc() }
func (m *Metrics) LockExtended(topic string)        { m.lockExtended.WithLabelValues(topic).Inc() }
func (m *Metrics) HandlerPanic(topic string)        { m.panics.WithLabelValues(topic).Inc() }
func (m *Metrics) FetchError()                      { m.fetchErrors.Inc() }
func (m *Metrics) ReportError(topic, op string)     { m.reportErrors.WithLabelValues(topic, op).Inc() }
func (m *Metrics) HandlerDuration(topic string, d time.Duration) {
	m.handlerDuration.WithLabelValues(topic).Observe(d.Seconds())
}

// waitroom.Metrics

func (m *Metrics) SetWaiters(n int) { m.waiters.Set(float64(n)) }
func (m *Metrics) ObserveWake(src waitroom.WakeSource, lag time.Duration) {
	m.wake.WithLabelValues(string(src)).Observe(lag.Seconds())
}

// Store wraps a repo.Store and counts every call, its errors and its time, by operation.
func (m *Metrics) Store(s repo.Store) repo.Store { return &countingStore{s: s, m: m} }

type countingStore struct {
	s repo.Store
	m *Metrics
}

func (c *countingStore) observe(op string, start time.Time, err error) {
	c.m.storeCalls.WithLabelValues(op).Inc()
	c.m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (c *countingStore) Create(ctx context.Context, id string) (repo.Record, error) {
	start := time.Now()
	v, err := c.s.Create(ctx, id)
	c.observe("create", start, err)
	return v, err
}

func (c *countingStore) Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error) {
	start := time.Now()
	v, err := c.s.Complete(ctx, id, payload)
	c.observe("complete", start, err)
	return v, err
}

func (c *countingStore) Fail(ctx context.Context, id string, errBody json.RawMessage) (repo.Outcome, error) {
	start := time.Now()
	v, err := c.s.Fail(ctx, id, errBody)
	c.observe("fail", start, err)
	return v, err
}

func (c *countingStore) InsertFinished(ctx context.Context, id string, status repo.Status, body json.RawMessage) (bool, error) {
	start := time.Now()
	v, err := c.s.InsertFinished(ctx, id, status, body)
	c.observe("insert_finished", start, err)
	return v, err
}

func (c *countingStore) Find(ctx context.Context, id string) (repo.Record, error) {
	start := time.Now()
	v, err := c.s.Find(ctx, id)
	c.observe("find", start, err)
	return v, err
}

func (c *countingStore) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	start := time.Now()
	v, err := c.s.Statuses(ctx, ids)
	c.observe("statuses", start, err)
	return v, err
}

func (c *countingStore) Delete(ctx context.Context, id string) (bool, error) {
	start := time.Now()
	v, err := c.s.Delete(ctx, id)
	c.observe("delete", start, err)
	return v, err
}

func (c *countingStore) PendingCount(ctx context.Context) (int64, error) {
	start := time.Now()
	v, err := c.s.PendingCount(ctx)
	c.observe("pending_count", start, err)
	return v, err
}

func (c *countingStore) ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error) {
	start := time.Now()
	v, err := c.s.ClearOwned(ctx, errBody)
	c.observe("clear_owned", start, err)
	return v, err
}

func (c *countingStore) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	start := time.Now()
	v, err := c.s.DeleteFinishedBefore(ctx, cutoff, batch)
	c.observe("delete_finished_before", start, err)
	return v, err
}

func (c *countingStore) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error) {
	start := time.Now()
	v, err := c.s.ExpirePendingBefore(ctx, cutoff, batch, errBody)
	c.observe("expire_pending_before", start, err)
	return v, err
}

func (c *countingStore) List(ctx context.Context, opts repo.ListOptions) ([]repo.Record, string, error) {
	start := time.Now()
	v, next, err := c.s.List(ctx, opts)
	c.observe("list", start, err)
	return v, next, err
}

func (c *countingStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := c.s.Ping(ctx)
	c.observe("ping", start, err)
	return err
}

func (c *countingStore) Close() error { return c.s.Close() }
