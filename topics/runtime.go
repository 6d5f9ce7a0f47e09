package topics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
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

// WithTransport keeps the runtime's HTTP client (timeouts derived from config) but sends
// through rt, e.g. for instrumentation or tests. TLS settings from config are then rt's job.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithClock replaces the wall clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// AbortPolls makes Run abort a long poll in flight as soon as its context is cancelled, for a
// faster stop. The engine keeps the aborted request queued until its asyncResponseTimeout and
// may lock new tasks for this stopped worker meanwhile; they wait out their lock duration.
func AbortPolls() Option { return func(o *options) { o.abortPolls = true } }

// WithMetrics sends the runtime's events to m.
func WithMetrics(m Metrics) Option { return func(o *options) { o.metrics = m } }

// Runtime is the external-task worker: one long poll per group of topics sharing the
// request-wide settings (usePriority, sorting), handler slots per topic reserved before each
// poll, lock extension for long handlers, outcome reporting with retries, and a staged
// shutdown. Build it with New, run it with Run.
type Runtime struct {
	cfg     config.Camunda
	log     *zap.Logger
	eng     *engine
	hc      *http.Client
	ownHC   bool
	metrics Metrics
	clock   Clock
	groups  []*group
	subs    map[string]*sub

	started    atomic.Bool
	abortPolls bool

	readyMu  sync.Mutex
	readyErr error
	probe    prober

	versionMu     sync.Mutex
	engineVersion string // last answer of GET /version
	versionSeen   bool

	// handlerBase is cancelled when the shutdown timeout runs out; reportBase a little later,
	// to bound the last reports and unlocks.
	handlerBase context.Context
	reportBase  context.Context
	handlers    sync.WaitGroup

	runningMu sync.Mutex
	running   map[string]string // task id -> topic
}

// sub is one subscribed topic and its handler slots.
type sub struct {
	cfg     config.Topic
	handler Handler
	// active counts running handlers plus slots reserved for the poll in flight; guarded by
	// the group's mu.
	active int
}

// group is the topics polled by one long poll.
type group struct {
	usePriority bool
	sorting     string
	subs        []*sub
	mu          sync.Mutex
	// freed is signalled (without blocking) whenever a slot is released.
	freed chan struct{}
}

// ErrNotReady is wrapped by Ready's errors.
var ErrNotReady = errors.New("external-task worker not ready")

// New checks the subscriptions, builds one handler per topic from reg and prepares the HTTP
// client. Unknown handler names and topics subscribed twice are errors naming the topic.
func New(cfg config.Camunda, subs []config.Topic, reg *Registry, deps Deps, log *zap.Logger, opts ...Option) (*Runtime, error) {
	if cfg.URL == "" {
		return nil, errors.New("topics: camunda.url is empty")
	}
	if cfg.WorkerID == "" {
		return nil, errors.New("topics: camunda.workerId is empty")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if deps.Log == nil {
		deps.Log = log
	}
	if reg == nil {
		reg = NewRegistry()
	}
	o := options{clock: realClock{}, metrics: NopMetrics{}}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = camundaDefaults(cfg)
	subs = topicDefaults(subs)
	handlers, err := reg.build(subs, deps)
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		cfg: cfg, log: logging.Component(log, "topics").With(logging.WorkerID(cfg.WorkerID)),
		metrics: o.metrics, clock: o.clock, subs: map[string]*sub{}, abortPolls: o.abortPolls,
		readyErr: fmt.Errorf("%w: no poll yet", ErrNotReady),
		running:  map[string]string{},
	}
	r.hc = o.httpClient
	if r.hc == nil {
		if r.hc, err = newHTTPClient(cfg, o.transport); err != nil {
			return nil, err
		}
		r.ownHC = true
	}
	r.eng = newEngine(cfg, r.hc)

	byKey := map[string]*group{}
	var keys []string
	for _, t := range subs {
		s := &sub{cfg: t, handler: handlers[t.Name]}
		r.subs[t.Name] = s
		up, sorting := cfg.UsePriority, cfg.Sorting
		if t.UsePriority != nil {
			up = *t.UsePriority
		}
		if t.Sorting != nil {
			sorting = *t.Sorting
		}
		key := fmt.Sprintf("%t|%s", up, sorting)
		g, ok := byKey[key]
		if !ok {
			g = &group{usePriority: up, sorting: sorting, freed: make(chan struct{}, 1)}
			byKey[key] = g
			keys = append(keys, key)
		}
		g.subs = append(g.subs, s)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.groups = append(r.groups, byKey[k])
	}
	return r, nil
}

// camundaDefaults fills zero settings with config.yaml's defaults, for callers that build a
// config.Camunda in code (tests, benchmarks) rather than through config.Load. A zero
// asyncResponseTimeout would turn long polling off and poll in a tight loop.
func camundaDefaults(c config.Camunda) config.Camunda {
	if c.AsyncResponseTimeout <= 0 {
		c.AsyncResponseTimeout = 20 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.PollBackoff.Initial <= 0 {
		c.PollBackoff.Initial = time.Second
	}
	if c.PollBackoff.Max < c.PollBackoff.Initial {
		c.PollBackoff.Max = max(30*time.Second, c.PollBackoff.Initial)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.LockExtensionFraction <= 0 || c.LockExtensionFraction >= 1 {
		c.LockExtensionFraction = 0.5
	}
	return c
}

// topicDefaults fills zero topic settings with config's defaults (as config.Load does).
func topicDefaults(subs []config.Topic) []config.Topic {
	out := make([]config.Topic, len(subs))
	for i, t := range subs {
		if t.LockDuration <= 0 {
			t.LockDuration = config.DefaultLockDuration
		}
		if t.MaxTasks <= 0 {
			t.MaxTasks = config.DefaultMaxTasks
		}
		if t.MaxParallel <= 0 {
			t.MaxParallel = config.DefaultMaxParallel
		}
		if t.Retries <= 0 {
			t.Retries = config.DefaultRetries
		}
		if t.RetryBackoff.Initial <= 0 {
			t.RetryBackoff.Initial = config.DefaultRetryInitial
		}
		if t.RetryBackoff.Max < t.RetryBackoff.Initial {
			t.RetryBackoff.Max = max(config.DefaultRetryMax, t.RetryBackoff.Initial)
		}
		if t.Result.CorrelationVariable == "" {
			t.Result.CorrelationVariable = config.DefaultCorrelationVariable
		}
		if t.Result.OnMissingRow == "" {
			t.Result.OnMissingRow = config.DefaultOnMissingRow
		}
		out[i] = t
	}
	return out
}

// Ready is nil while polls succeed and an error describing the outage otherwise (before the
// first successful contact, while the engine is unreachable or failing, after Run returned).
// For /readyz.
func (r *Runtime) Ready() error {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	return r.readyErr
}

// EngineVersion is the engine's version as GET /version last answered it ("" until the
// engine first answered), e.g. "7.24.0" (Camunda) or "1.0.3" (Operaton).
func (r *Runtime) EngineVersion() string {
	r.versionMu.Lock()
	defer r.versionMu.Unlock()
	return r.engineVersion
}

// engineAnswered records the version from a successful probe and logs it the first time, and
// again when it changes (the engine behind the URL was replaced by another release).
func (r *Runtime) engineAnswered(version string) {
	r.versionMu.Lock()
	changed := !r.versionSeen || version != r.engineVersion
	r.engineVersion, r.versionSeen = version, true
	r.versionMu.Unlock()
	if changed {
		r.log.Info("engine answered", zap.String("engine_url", redactURL(r.cfg.URL)), zap.String("engine_version", version))
	}
}

func (r *Runtime) setReady(err error) {
	r.readyMu.Lock()
	r.readyErr = err
	r.readyMu.Unlock()
}

// Run polls and works tasks until ctx is cancelled, then shuts down in stages, all within
// cfg.ShutdownTimeout plus a second (stopGrace + stopLinger), however slow or hung the
// engine is (see stop):
//
//  1. No new poll starts. A long poll in flight is left to finish (see below; AbortPolls
//     aborts it at once instead) and the tasks it brings are unlocked, not started.
//  2. Tasks the engine shows locked by this worker without a running handler are unlocked.
//  3. Running handlers finish and report. When the timeout runs out, their contexts are
//     cancelled and their tasks unlocked (no retry is spent).
//
// Unlocks run in parallel (unlockParallelism at a time).
//
// Why not abort the long poll at once: the engine does not notice a client that went away
// from a pending long poll. The request stays queued until its asyncResponseTimeout and locks
// new tasks for this (stopped) worker, where they sit until their lock expires. Waiting
// for the answer costs at most asyncResponseTimeout, and every task it brings is handed back.
//
// Run returns nil after a clean stop; it may be called once.
func (r *Runtime) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("topics: Run called twice")
	}
	detached := context.WithoutCancel(ctx)
	handlerBase, cancelHandlers := context.WithCancel(detached)
	reportBase, cancelReports := context.WithCancel(detached)
	pollCtx, cancelPolls := context.WithCancel(detached)
	defer cancelHandlers()
	defer cancelReports()
	defer cancelPolls()
	r.handlerBase, r.reportBase = handlerBase, reportBase
	if r.abortPolls {
		stop := context.AfterFunc(ctx, cancelPolls)
		defer stop()
	}

	r.log.Info("external-task worker starting", zap.Int("topics", len(r.subs)), zap.Int("polls", len(r.groups)))
	// Tasks still locked under this worker id belong to an earlier life of this replica (a
	// restart with the same instance.id after a crash): nothing runs them now, so hand them
	// back before the first poll instead of letting them wait out their locks.
	startCtx, cancelStart := context.WithTimeout(detached, r.eng.reqTO)
	r.unlockOrphans(startCtx)
	cancelStart()
	if len(r.groups) == 0 {
		r.setReady(nil)
	}
	var pollers sync.WaitGroup
	for _, g := range r.groups {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			r.pollLoop(ctx, pollCtx, g)
		}()
	}
	pollersDone := make(chan struct{})
	go func() { pollers.Wait(); close(pollersDone) }()

	<-ctx.Done()
	r.setReady(fmt.Errorf("%w: stopping", ErrNotReady))
	r.stop(pollersDone, cancelPolls, cancelHandlers, cancelReports)
	r.setReady(fmt.Errorf("%w: stopped", ErrNotReady))
	if r.ownHC {
		r.hc.CloseIdleConnections()
	}
	r.log.Info("external-task worker stopped")
	return nil
}

// stopGrace is how long after the shutdown deadline the last engine calls may take: unlocks
// of handlers cancelled at the deadline, and reports already under way. Then every engine
// call of this runtime is aborted, so Run returns within shutdownTimeout + stopGrace +
// stopLinger whatever the engine does.
const stopGrace = 750 * time.Millisecond

// stopLinger is how long Run still waits, after stopGrace, for handlers that ignore their
// cancelled context. They are then left behind: their locks are no longer extended and run out.
const stopLinger = 250 * time.Millisecond

// unlockParallelism bounds the unlock calls in flight at once: a stop hands back up to
// maxTasks × topics tasks, and one call at a time would take that many round trips (each up
// to requestTimeout on a slow engine).
const unlockParallelism = 8

// stop is the staged shutdown of Run, all of it within cfg.ShutdownTimeout (the deadline D)
// plus stopGrace:
//
//  1. The pollers end: no new poll starts; the long poll in flight answers and the tasks it
//     brings are unlocked (AbortPolls, or D, aborts it).
//  2. Meanwhile, tasks the engine shows locked by this worker without a running handler are
//     unlocked (the orphan sweep, in the background).
//  3. Running handlers finish and report until D; then their contexts are cancelled and their
//     tasks unlocked without spending a retry.
//  4. At D + stopGrace every engine call still in flight (reports, unlocks, the sweep) is
//     aborted; handlers that ignore cancellation get stopLinger more, then are left behind.
//
// Every engine call of the stop derives its context from reportBase, which step 4 cancels:
// a hung engine cannot stretch the stop beyond it.
func (r *Runtime) stop(pollersDone <-chan struct{}, cancelPolls, cancelHandlers, cancelReports context.CancelFunc) {
	cut := make(chan struct{}) // closed at D + stopGrace, after cancelReports
	finished := make(chan struct{})
	defer close(finished)
	// The deadlines act on their own, wherever the stages below are waiting.
	go func() {
		select {
		case <-r.clock.After(r.cfg.ShutdownTimeout):
		case <-finished:
			return
		}
		select {
		case <-pollersDone:
		default:
			r.log.Warn("shutdown timeout: aborting the long poll in flight", zap.Duration("timeout", r.cfg.ShutdownTimeout))
			cancelPolls()
		}
		if n := r.runningCount(); n > 0 {
			r.log.Warn("shutdown timeout: cancelling running handlers", zap.Int("handlers", n), zap.Duration("timeout", r.cfg.ShutdownTimeout))
		}
		cancelHandlers()
		select {
		case <-r.clock.After(stopGrace):
			cancelReports()
			close(cut)
		case <-finished:
		}
	}()

	<-pollersDone // by D + stopGrace at the latest: polls abort at D, their unlocks at the cut
	cancelPolls()

	// Pollers are done: no handler starts any more, so waiting on the group is safe now.
	handlersDone := make(chan struct{})
	go func() { r.handlers.Wait(); close(handlersDone) }()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		sctx, cancel := context.WithTimeout(r.reportBase, r.eng.reqTO)
		defer cancel()
		r.unlockOrphans(sctx)
	}()

	select {
	case <-handlersDone:
	case <-cut:
		select {
		case <-handlersDone:
		case <-r.clock.After(stopLinger):
			// A handler that ignores its context must not hold the process: its lock is no
			// longer extended and runs out.
			r.log.Error("handlers ignore cancellation; stopping without them", zap.Int("handlers", r.runningCount()))
		}
	}
	<-sweepDone // bounded by requestTimeout and by the cut at D + stopGrace
}

func (r *Runtime) runningCount() int {
	r.runningMu.Lock()
	defer r.runningMu.Unlock()
	return len(r.running)
}

// unlockOrphans unlocks every task the engine shows locked by this worker that has no running
// handler: at start, tasks an earlier life of this replica held when it died; at stop, tasks
// whose fetch answer was lost when a long poll was aborted (the engine may lock them just as
// the request is cancelled). They go back to the queue now instead of after their lock
// duration.
func (r *Runtime) unlockOrphans(ctx context.Context) {
	if len(r.subs) == 0 {
		return
	}
	var locked []lockedTask
	q := "/external-task?locked=true&workerId=" + url.QueryEscape(r.cfg.WorkerID)
	if err := r.eng.do(ctx, "list locked tasks", http.MethodGet, q, 0, nil, "", &locked); err != nil {
		r.log.Warn("cannot list tasks still locked by this worker; they unlock when their locks expire", logging.Err(err))
		return
	}
	idle := locked[:0]
	for _, t := range locked {
		r.runningMu.Lock()
		_, busy := r.running[t.ID]
		r.runningMu.Unlock()
		if !busy {
			idle = append(idle, t)
		}
	}
	r.unlockAll(ctx, idle)
}

// unlockAll hands tasks back to the engine, unlockParallelism at a time, each call within
// requestTimeout and ctx. Failures are logged: the task's lock then runs out by itself.
func (r *Runtime) unlockAll(ctx context.Context, tasks []lockedTask) {
	var g errgroup.Group
	g.SetLimit(unlockParallelism)
	for _, lt := range tasks {
		g.Go(func() error {
			r.unlockUnstarted(ctx, lt)
			return nil
		})
	}
	_ = g.Wait()
}

// saturatedPollTimeout bounds a long poll that leaves out a full topic: that topic must not
// wait a whole asyncResponseTimeout for its next poll once a slot frees. Aborting the poll
// instead could lose tasks the engine locks just as the request is cancelled.
const saturatedPollTimeout = time.Second

// plan reserves handler slots for one poll and builds its request. Per topic the allowance is
// min(maxTasks, free slots); a topic without a free slot is left out. The engine has only a
// request-wide maxTasks, so it is the smallest allowance: whatever topics the tasks come
// from, none gets more than its free slots. That many slots are reserved on every topic
// polled; release gives back what the answer did not use. ok is false when no topic has a
// free slot.
func (g *group) plan(workerID string, async time.Duration) (req fetchRequest, reserved map[*sub]int, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	maxTasks := 0
	var included []*sub
	saturated := false
	for _, s := range g.subs {
		allow := min(s.cfg.MaxTasks, s.cfg.MaxParallel-s.active)
		if allow <= 0 {
			saturated = true
			continue
		}
		included = append(included, s)
		if maxTasks == 0 || allow < maxTasks {
			maxTasks = allow
		}
	}
	if len(included) == 0 {
		return fetchRequest{}, nil, false
	}
	if saturated {
		async = min(async, saturatedPollTimeout)
	}
	req = fetchRequest{
		WorkerID: workerID, MaxTasks: maxTasks, UsePriority: g.usePriority,
		AsyncResponseTimeout: async.Milliseconds(), Sorting: sortingFor(g.sorting),
	}
	reserved = make(map[*sub]int, len(included))
	for _, s := range included {
		s.active += maxTasks
		reserved[s] = maxTasks
		req.Topics = append(req.Topics, buildTopic(s.cfg))
	}
	return req, reserved, true
}

// release gives back n slots of s and wakes a poller waiting for one.
func (g *group) release(s *sub, n int) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	s.active -= n
	g.mu.Unlock()
	select {
	case g.freed <- struct{}{}:
	default:
	}
}

// pollLoop is one group's fetch-and-lock loop. ctx stops it from starting polls; pollCtx
// carries the requests (cancelled later than ctx unless AbortPolls).
func (r *Runtime) pollLoop(ctx, pollCtx context.Context, g *group) {
	bo := &backoff.ExponentialBackOff{
		InitialInterval: r.cfg.PollBackoff.Initial, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: r.cfg.PollBackoff.Max,
	}
	if bo.InitialInterval <= 0 {
		bo.InitialInterval = time.Second
	}
	if bo.MaxInterval < bo.InitialInterval {
		bo.MaxInterval = 30 * time.Second
	}
	bo.Reset()
	var st streak
	// probe: ask the engine cheaply whether it answers (at start and after a connection
	// problem or 5xx), so Ready turns true without waiting out a long poll. Not after a 4xx:
	// the engine answers then, and the poll itself tells when the problem is gone.
	probe := true
	topicNames := make([]string, len(g.subs))
	for i, s := range g.subs {
		topicNames[i] = s.cfg.Name
	}
	log := r.log.With(zap.Strings("topics", topicNames))

	for ctx.Err() == nil {
		if probe {
			v, err := r.eng.version(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.pollFailed(log, &st, err)
				if !r.sleep(ctx, bo.NextBackOff()) {
					return
				}
				continue
			}
			r.engineAnswered(v)
			r.setReady(nil)
			probe = false
		}
		req, reserved, ok := g.plan(r.cfg.WorkerID, r.cfg.AsyncResponseTimeout)
		if !ok {
			select {
			case <-g.freed:
			case <-ctx.Done():
				return
			}
			continue
		}
		locked, err := r.eng.fetchAndLock(pollCtx, req)
		if err != nil {
			for s, n := range reserved {
				g.release(s, n)
			}
			if ctx.Err() != nil || pollCtx.Err() != nil {
				return
			}
			probe = retryable(err)
			r.pollFailed(log, &st, err)
			if !r.sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		r.pollRecovered(log, &st)
		bo.Reset()
		r.dispatch(ctx, g, reserved, locked)
	}
}

// dispatch starts a handler per fetched task on the slots reserved for it, gives back unused
// reservations, and unlocks tasks it cannot start (shutdown began, or more than reserved).
func (r *Runtime) dispatch(ctx context.Context, g *group, reserved map[*sub]int, locked []lockedTask) {
	used := map[*sub]int{}
	counts := map[string]int{}
	var unstarted []lockedTask
	defer func() { r.unlockAll(r.reportBase, unstarted) }()
	for _, lt := range locked {
		s := r.subs[lt.TopicName]
		if s == nil || used[s] >= reserved[s] || ctx.Err() != nil {
			unstarted = append(unstarted, lt)
			continue
		}
		used[s]++
		counts[lt.TopicName]++
		t := lt.task().withFiles(r.hc, r.cfg.URL)
		r.runningMu.Lock()
		r.running[t.ID] = t.Topic
		r.runningMu.Unlock()
		r.handlers.Add(1)
		go func() {
			defer r.handlers.Done()
			defer g.release(s, 1)
			defer func() {
				r.runningMu.Lock()
				delete(r.running, t.ID)
				r.runningMu.Unlock()
			}()
			r.work(s, t)
		}()
	}
	for s, n := range reserved {
		g.release(s, n-used[s])
	}
	for topic, n := range counts {
		r.metrics.TasksFetched(topic, n)
	}
}

// unlockUnstarted unlocks one task that no handler ran, within requestTimeout and ctx (which
// the stop cancels at its deadline).
func (r *Runtime) unlockUnstarted(ctx context.Context, lt lockedTask) {
	ctx, cancel := context.WithTimeout(ctx, r.eng.reqTO)
	defer cancel()
	log := r.log.With(logging.Topic(lt.TopicName), logging.TaskID(lt.ID))
	if err := r.eng.unlock(ctx, lt.ID); err != nil && !errors.Is(err, ErrTaskGone) {
		log.Warn("unlock task fetched but not started; it unlocks when its lock expires", logging.Err(err))
		return
	}
	r.metrics.TaskUnlocked(lt.TopicName)
	log.Info("unlocked task fetched but not started")
}

func (r *Runtime) sleep(ctx context.Context, d time.Duration) bool {
	if d == backoff.Stop || d <= 0 {
		d = time.Second
	}
	select {
	case <-r.clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// redactURL hides the credentials in the engine URL's user info (auth belongs in
// camunda.auth, but a URL may still carry some).
func redactURL(s string) string { return config.RedactDSN(s) }

// streak collapses identical consecutive poll errors into one log line.
type streak struct {
	last  string
	count int
	since time.Time
}

func (r *Runtime) pollFailed(log *zap.Logger, st *streak, err error) {
	r.metrics.FetchError()
	r.setReady(fmt.Errorf("%w: engine at %s: %w", ErrNotReady, redactURL(r.cfg.URL), err))
	msg := err.Error()
	if st.count == 0 {
		st.since = r.clock.Now()
	}
	st.count++
	if msg == st.last {
		log.Debug("poll failed again", logging.Err(err), zap.Int("failures", st.count))
		return
	}
	st.last = msg
	log.Warn("poll failed; retrying with backoff (repeats of this error are not logged)", logging.Err(err), zap.Int("failures", st.count))
}

func (r *Runtime) pollRecovered(log *zap.Logger, st *streak) {
	r.setReady(nil)
	if st.count > 0 {
		log.Info("engine reachable again", zap.Int("failures", st.count), zap.Duration("outage", r.clock.Now().Sub(st.since)))
	}
	*st = streak{}
}

// work runs one task's handler with lock extension, then reports its outcome.
func (r *Runtime) work(s *sub, t *Task) {
	log := r.log.With(logging.Topic(t.Topic), logging.TaskID(t.ID), logging.ProcessInstanceID(t.ProcessInstanceID))
	hctx, cancel := context.WithCancelCause(r.handlerBase)
	defer cancel(nil)

	extDone := make(chan struct{})
	stopExt := make(chan struct{})
	go func() {
		defer close(extDone)
		r.extendLocks(hctx, stopExt, s, t, log, cancel)
	}()

	start := r.clock.Now()
	res, herr, panicked := runHandler(hctx, s.handler, t)
	elapsed := r.clock.Now().Sub(start)
	close(stopExt)
	<-extDone
	r.metrics.HandlerDuration(t.Topic, elapsed)
	if panicked {
		r.metrics.HandlerPanic(t.Topic)
		log.Error("handler panicked; reporting a failure with retries", logging.Err(herr))
	}

	if cause := context.Cause(hctx); errors.Is(cause, ErrLockLost) {
		r.metrics.LockLost(t.Topic)
		log.Warn("lock lost while the handler ran; outcome dropped", logging.Err(cause), zap.NamedError("handler_err", herr))
		return
	}
	if r.handlerBase.Err() != nil && herr != nil {
		// Cancelled by shutdown: hand the task back untouched rather than spend a retry.
		ctx, c := context.WithTimeout(r.reportBase, r.eng.reqTO)
		defer c()
		if err := r.eng.unlock(ctx, t.ID); err != nil && !errors.Is(err, ErrTaskGone) {
			r.metrics.ReportError(t.Topic, "unlock")
			log.Warn("unlock after shutdown cancel failed; the lock will expire", logging.Err(err))
			return
		}
		r.metrics.TaskUnlocked(t.Topic)
		log.Info("handler cancelled by shutdown; task unlocked")
		return
	}
	r.report(s, t, res, herr, log)
}

// runHandler calls the handler, turning a panic into an error carrying the stack.
func runHandler(ctx context.Context, h Handler, t *Task) (res Complete, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			err = &Failure{Err: fmt.Errorf("handler panic: %v", p), Details: fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack())}
			panicked = true
		}
	}()
	res, err = h.Handle(ctx, t)
	return res, err, false
}

// extendLocks extends t's lock every lockExtensionFraction × lockDuration until stop closes.
// A 400 or 404 means the lock is gone: the handler's context is cancelled with ErrLockLost.
func (r *Runtime) extendLocks(ctx context.Context, stop <-chan struct{}, s *sub, t *Task, log *zap.Logger, cancel context.CancelCauseFunc) {
	frac := r.cfg.LockExtensionFraction
	if frac <= 0 || frac >= 1 {
		frac = 0.5
	}
	every := time.Duration(float64(s.cfg.LockDuration) * frac)
	if every <= 0 {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-r.clock.After(every):
		}
		ectx, c := context.WithTimeout(r.reportBase, r.eng.reqTO)
		err := r.eng.extendLock(ectx, t.ID, s.cfg.LockDuration)
		c()
		var ee *EngineError
		switch {
		case err == nil:
			r.metrics.LockExtended(t.Topic)
			log.Debug("lock extended", zap.Duration("lock_duration", s.cfg.LockDuration))
		case errors.As(err, &ee) && (ee.Status == http.StatusBadRequest || ee.Status == http.StatusNotFound):
			cancel(fmt.Errorf("%w: %w", ErrLockLost, err))
			return
		default:
			log.Warn("extend lock failed; trying again at the next interval", logging.Err(err))
		}
	}
}

// report sends the outcome, retrying 5xx and network errors with capped exponential backoff
// and jitter for at most the lock duration (past it the engine may hand the task to
// another worker anyway).
func (r *Runtime) report(s *sub, t *Task, res Complete, herr error, log *zap.Logger) {
	var (
		op   string
		call func(ctx context.Context) error
		ok   func()
	)
	var bpmn *BPMNError
	switch {
	case herr == nil:
		op = "complete"
		call = func(ctx context.Context) error { return r.eng.complete(ctx, t.ID, res) }
		ok = func() { r.metrics.TaskCompleted(t.Topic); log.Debug("task completed") }
	case errors.As(herr, &bpmn):
		op = "bpmnError"
		call = func(ctx context.Context) error { return r.eng.bpmnError(ctx, t.ID, bpmn) }
		ok = func() {
			r.metrics.TaskBPMNError(t.Topic)
			log.Info("bpmn error thrown", zap.String("error_code", bpmn.Code), zap.String("error_message", bpmn.Message))
		}
	default:
		op = "failure"
		fr := failureFor(s.cfg, t, herr)
		call = func(ctx context.Context) error { return r.eng.failure(ctx, t.ID, fr) }
		ok = func() {
			r.metrics.TaskFailed(t.Topic)
			lvl := log.Warn
			if fr.Retries == 0 {
				lvl = log.Error
			}
			lvl("task failed", logging.Err(herr), zap.Int("retries_left", fr.Retries), zap.Duration("retry_timeout", time.Duration(fr.RetryTimeout)*time.Millisecond))
		}
	}
	err := r.retry(s, call)
	switch {
	case err == nil:
		ok()
	case errors.Is(err, ErrLockLost):
		r.metrics.LockLost(t.Topic)
		log.Warn("lock lost: another worker holds the task; outcome dropped", zap.String("op", op), logging.Err(err))
	case errors.Is(err, ErrTaskGone):
		log.Info("task gone (completed elsewhere, cancelled or instance deleted); outcome dropped", zap.String("op", op), logging.Err(err))
	case op != "failure" && isBadRequest(err):
		// The engine refused our completion itself (e.g. a variable it cannot store): turn it
		// into an incident with the engine's message rather than retry forever.
		zero := 0
		fr := failureFor(s.cfg, t, &Failure{Err: err, Message: "engine rejected " + op, Retries: &zero})
		if ferr := r.retry(s, func(ctx context.Context) error { return r.eng.failure(ctx, t.ID, fr) }); ferr != nil {
			r.metrics.ReportError(t.Topic, "failure")
			log.Error("engine rejected the outcome and the failure report", zap.String("op", op), logging.Err(err), zap.NamedError("failure_err", ferr))
			return
		}
		r.metrics.TaskFailed(t.Topic)
		log.Error("engine rejected the outcome; reported an incident", zap.String("op", op), logging.Err(err))
	default:
		r.metrics.ReportError(t.Topic, op)
		log.Error("could not report outcome; the engine offers the task again when its lock expires", zap.String("op", op), logging.Err(err))
	}
}

func isBadRequest(err error) bool {
	var ee *EngineError
	return errors.As(err, &ee) && ee.Status == http.StatusBadRequest
}

func (r *Runtime) retry(s *sub, call func(ctx context.Context) error) error {
	bound := s.cfg.LockDuration
	if bound < 10*time.Second {
		bound = 10 * time.Second
	}
	_, err := backoff.Retry(r.reportBase, func() (struct{}, error) {
		err := call(r.reportBase)
		if err != nil && !retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 5 * time.Second}),
		backoff.WithMaxElapsedTime(bound))
	return err
}

// maxErrorMessage is the engine's errorMessage column width; longer messages are cut by the
// engine mid-character, so we cut first.
const maxErrorMessage = 666

// failureFor builds the failure report for err on t under topic settings cfg.
func failureFor(cfg config.Topic, t *Task, err error) failureRequest {
	retries := nextRetries(cfg.Retries, t.Retries)
	msg := err.Error()
	details := msg
	fr := failureRequest{}
	var f *Failure
	if errors.As(err, &f) {
		if f.Retries != nil {
			retries = max(*f.Retries, 0)
		}
		if f.Details != "" {
			details = f.Details
		}
		fr.Variables, fr.LocalVariables = f.Variables, f.LocalVariables
	}
	fr.Retries = retries
	fr.ErrorMessage = cutMessage(msg, maxErrorMessage)
	fr.ErrorDetails = details
	timeout := retryTimeout(cfg.RetryBackoff, cfg.Retries, t.Retries)
	if f != nil && f.RetryTimeout != nil {
		timeout = max(*f.RetryTimeout, 0)
	}
	if retries == 0 {
		timeout = 0
	}
	fr.RetryTimeout = timeout.Milliseconds()
	return fr
}

// nextRetries is the retries count to send with a failure. The engine does not decrement:
// task.retries is nil before the first failure, so the first failure sends configured-1, later
// ones current-1; never below 0 (0 raises an incident).
func nextRetries(configured int, current *int) int {
	n := configured - 1
	if current != nil {
		n = *current - 1
	}
	return max(n, 0)
}

// retryTimeout is the delay before the engine offers a failed task again: b.Initial on the
// first failure, doubling with each further failure, capped at b.Max.
func retryTimeout(b config.Backoff, configured int, current *int) time.Duration {
	failuresBefore := 0
	if current != nil {
		failuresBefore = max(configured-*current, 0)
	}
	d := b.Initial
	for i := 0; i < failuresBefore; i++ {
		d *= 2
		if b.Max > 0 && d >= b.Max {
			return b.Max
		}
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}

// cutMessage cuts s to at most n UTF-16 code units (the engine counts Java chars) on a rune
// boundary, marking the cut with "…".
func cutMessage(s string, n int) string {
	units := func(r rune) int {
		if r >= 0x10000 {
			return 2
		}
		return 1
	}
	total := 0
	for _, r := range s {
		total += units(r)
	}
	if total <= n {
		return s
	}
	limit := n - 1 // room for the ellipsis
	var b strings.Builder
	used := 0
	for _, r := range s {
		if r == utf8.RuneError {
			r = '?'
		}
		u := units(r)
		if used+u > limit {
			break
		}
		b.WriteRune(r)
		used += u
	}
	return strings.TrimRight(b.String(), " \t\r\n") + "…"
}
