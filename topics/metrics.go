package topics

import (
	"net/http"
	"time"
)

// Metrics receives the runtime's events; the Prometheus layer implements it. Embed NopMetrics
// to implement only some methods. Calls come from many goroutines.
type Metrics interface {
	// TasksFetched: a poll locked n tasks of topic.
	TasksFetched(topic string, n int)
	// TaskCompleted, TaskFailed and TaskBPMNError: the engine accepted that outcome.
	TaskCompleted(topic string)
	TaskFailed(topic string)
	TaskBPMNError(topic string)
	// TaskUnlocked: a task was handed back unworked (shutdown).
	TaskUnlocked(topic string)
	// LockLost: another worker holds the task now, or the lock expired before an extension.
	LockLost(topic string)
	// LockExtended: a long-running handler's lock was extended.
	LockExtended(topic string)
	// HandlerDuration: a handler returned (or panicked) after d.
	HandlerDuration(topic string, d time.Duration)
	// HandlerPanic: a handler panicked (reported as a failure with retries).
	HandlerPanic(topic string)
	// FetchError: a poll failed (engine down, 5xx, network).
	FetchError()
	// ReportError: an outcome (op: complete, failure, bpmnError, unlock) could not be
	// reported, after retries; the lock will run out and the engine will offer the task again.
	ReportError(topic, op string)
}

// NopMetrics discards every event.
type NopMetrics struct{}

func (NopMetrics) TasksFetched(string, int)              {}
func (NopMetrics) TaskCompleted(string)                  {}
func (NopMetrics) TaskFailed(string)                     {}
func (NopMetrics) TaskBPMNError(string)                  {}
func (NopMetrics) TaskUnlocked(string)                   {}
func (NopMetrics) LockLost(string)                       {}
func (NopMetrics) LockExtended(string)                   {}
func (NopMetrics) HandlerDuration(string, time.Duration) {}
func (NopMetrics) HandlerPanic(string)                   {}
func (NopMetrics) FetchError()                           {}
func (NopMetrics) ReportError(string, string)            {}

// Clock is the time source for waits (poll backoff, lock extension, shutdown timeout), so
// tests can drive time.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Option configures New and Deploy.
type Option func(*options)

type options struct {
	httpClient *http.Client
	transport  http.RoundTripper
	clock      Clock
	metrics    Metrics
	abortPolls bool
}

// WithHTTPClient makes the runtime use hc as is (its timeout must exceed the long poll).
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.httpClient = hc } }

// WithTransport keeps the runtime's HTTP client (timeouts derived from Options) but sends
// through rt, e.g. for instrumentation or tests. Options.Engine.TLS is then rt's job.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithClock replaces the wall clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// AbortPolls makes Run abort a long poll in flight as soon as its context is cancelled, for a
// faster stop. The engine keeps the aborted request queued until its asyncResponseTimeout and
// may lock new tasks for this stopped worker meanwhile; they wait out their lock duration.
func AbortPolls() Option { return func(o *options) { o.abortPolls = true } }

// WithMetrics sends the runtime's events to m.
func WithMetrics(m Metrics) Option { return func(o *options) { o.metrics = m } }
