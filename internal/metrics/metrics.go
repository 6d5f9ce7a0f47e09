// Package metrics is the daemon's Prometheus instrumentation: it implements the metrics hooks
// of the topics runtime and the waitroom, and counts store calls (a repo.Interceptor), on one
// registry that /metrics serves.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/camunda-waitroom/camunda-waitroom/internal/breaker"
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

// storeOps are the store operations whose series InitSeries creates: the op label values
// of InterceptStore (repo.Wrap's operation names) of the waitroom's and the API's calls.
var storeOps = []string{repo.OpCreate, repo.OpComplete, repo.OpFail, repo.OpInsertFinished, repo.OpFind,
	repo.OpStatuses, repo.OpDelete, repo.OpPendingCount, repo.OpClearOwned, repo.OpDeleteFinishedBefore,
	repo.OpExpirePendingBefore, repo.OpList, repo.OpPing}

// reportOps are the op values of topics.Metrics.ReportError.
var reportOps = []string{"complete", "failure", "bpmnError", "unlock"}

// wakeSources are the values of the wake latency's source label.
var wakeSources = []waitroom.WakeSource{waitroom.WakeLocal, waitroom.WakeNotify, waitroom.WakePoll}

// InitSeries creates, at zero, every series whose labels are known at start: each counter and
// the handler duration of every configured topic (report errors for every operation), the wake
// latency of every wake source, the store series of every operation. Without it a series is
// born at its first event with the value 1, and rate() and increase() never see that first
// failure (they need two samples); dashboards would also say "No data" where the truth is 0.
func (m *Metrics) InitSeries(topics []string) {
	for _, t := range topics {
		for _, c := range []*prometheus.CounterVec{m.fetched, m.completed, m.failed, m.bpmnErrors, m.unlocked, m.lockLost, m.lockExtended, m.panics} {
			c.WithLabelValues(t)
		}
		m.handlerDuration.WithLabelValues(t)
		for _, op := range reportOps {
			m.reportErrors.WithLabelValues(t, op)
		}
	}
	for _, src := range wakeSources {
		m.wake.WithLabelValues(string(src))
	}
	for _, op := range storeOps {
		m.storeCalls.WithLabelValues(op)
		m.storeErrors.WithLabelValues(op)
		m.storeDuration.WithLabelValues(op)
	}
}

// Breaker is what the metrics read of the store's circuit breaker.
type Breaker interface {
	Stats() breaker.Stats
}

// WatchBreaker exports the store's circuit breaker, read at each scrape:
// camunda_waitroom_store_breaker_state (0 closed, 1 half-open, 2 open),
// camunda_waitroom_store_breaker_opens_total and camunda_waitroom_store_breaker_rejected_total.
// The counters show an opening that came and went between two scrapes, which the state gauge
// alone would miss. Call it once.
func (m *Metrics) WatchBreaker(b Breaker) {
	m.Registry.MustRegister(&breakerCollector{b: b,
		state: prometheus.NewDesc(ns+"_store_breaker_state",
			"State of the process_store circuit breaker: 0 closed, 1 half-open (one trial call), 2 open (store calls refused).", nil, nil),
		opens: prometheus.NewDesc(ns+"_store_breaker_opens_total",
			"Times the process_store circuit breaker opened (after consecutive database failures, or a failed trial call).", nil, nil),
		rejected: prometheus.NewDesc(ns+"_store_breaker_rejected_total",
			"Store calls refused by the open circuit breaker, never sent to the database (not in store_calls_total).", nil, nil),
	})
}

// breakerCollector reads the three breaker series from one Stats call, so a scrape sees a
// consistent snapshot.
type breakerCollector struct {
	b                      Breaker
	state, opens, rejected *prometheus.Desc
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.opens
	ch <- c.rejected
}

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, float64(st.State))
	ch <- prometheus.MustNewConstMetric(c.opens, prometheus.CounterValue, float64(st.Opens))
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(st.Rejected))
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

// InterceptStore counts a store call, its error and its time, by operation (the op label:
// repo.Wrap's operation names). It is a repo.Interceptor: the daemon wraps its store with
// repo.Wrap(store, breaker, m.InterceptStore), so calls the breaker refuses are not counted
// here (camunda_waitroom_store_breaker_rejected_total counts them).
func (m *Metrics) InterceptStore(ctx context.Context, op string, call func(context.Context) error) error {
	start := time.Now()
	err := call(ctx)
	m.storeCalls.WithLabelValues(op).Inc()
	m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
	return err
}
