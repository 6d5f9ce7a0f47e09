package topics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// Runtime is the external-task worker: one long poll per group of topics sharing the
// request-wide settings (usePriority, sorting), handler slots per topic reserved before each
// poll, lock extension for long handlers, outcome reporting with retries, and a staged
// shutdown. Build it with New, run it with Run.
type Runtime struct {
	cfg     Options
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
	cfg     Topic
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

// New checks the options and the subscriptions (zero fields take their defaults, see Options
// and Topic), builds one handler per topic from reg and prepares the HTTP
// client. Unknown handler names and topics subscribed twice are errors naming the topic.
func New(cfg Options, subs []Topic, reg *Registry, deps Deps, log *zap.Logger, opts ...Option) (*Runtime, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
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
	subs = withDefaults(subs)
	for i, t := range subs {
		if err := t.validate(); err != nil {
			return nil, fmt.Errorf("topics[%d]: %w", i, err)
		}
	}
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

// withDefaults is a copy of subs with every topic's defaults set.
func withDefaults(subs []Topic) []Topic {
	out := make([]Topic, len(subs))
	for i, t := range subs {
		out[i] = t.WithDefaults()
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
		r.log.Info("engine answered", zap.String("engine_url", redactURL(r.cfg.Engine.URL)), zap.String("engine_version", version))
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

// stop is the staged shutdown of Run: close, wait with a timeout, cancel. Everything is
// bounded by cfg.ShutdownTimeout (the deadline D) plus stopGrace (the cut) plus stopLinger:
//
//  1. Close: no new poll starts; the long poll in flight may answer until D (its tasks are
//     unlocked, not started), then it is aborted.
//  2. Sweep: tasks the engine shows locked by this worker without a running handler are
//     unlocked, in the background.
//  3. Wait: running handlers finish and report until D.
//  4. Cancel: at D the handlers' contexts are cancelled; each unlocks its task without
//     spending a retry.
//  5. Bound: at the cut every engine call still in flight (reports, unlocks, the sweep) is
//     aborted; handlers that ignore cancellation get stopLinger more, then are left behind.
//
// Every engine call of the stop derives its context from reportBase, which cancelReports
// ends: a hung engine cannot stretch the stop beyond the cut.
func (r *Runtime) stop(pollersDone <-chan struct{}, cancelPolls, cancelHandlers, cancelReports context.CancelFunc) {
	finished := make(chan struct{})
	defer close(finished)
	timeout := r.cfg.ShutdownTimeout
	deadline := r.closeAfter(timeout, finished)
	cut := r.closeAfter(timeout+stopGrace, finished)

	// 1. Close. Run's ctx is cancelled, so the pollers start no poll; wait for the one in
	// flight until D, then abort it (and cancel the handlers: their time is up as well). The
	// unlocks of what the poll brought end by the cut.
	if !waitFor(pollersDone, deadline) {
		r.log.Warn("shutdown timeout: aborting the long poll in flight", zap.Duration("timeout", timeout))
		cancelPolls()
		cancelHandlers()
		if !waitFor(pollersDone, cut) {
			cancelReports()
			<-pollersDone
		}
	}
	cancelPolls()

	// 2. Sweep orphans (a fetch answer lost to an aborted poll), bounded by requestTimeout
	// and by the cut.
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		sctx, cancel := context.WithTimeout(r.reportBase, r.eng.reqTO)
		defer cancel()
		r.unlockOrphans(sctx)
	}()

	// 3. Wait for running handlers until D. The pollers are done, so no handler starts any
	// more and waiting on the group is safe.
	handlersDone := make(chan struct{})
	go func() { r.handlers.Wait(); close(handlersDone) }()
	if !waitFor(handlersDone, deadline) {
		// 4. Cancel them: each unlocks its task (work), within the cut.
		if n := r.runningCount(); n > 0 {
			r.log.Warn("shutdown timeout: cancelling running handlers", zap.Int("handlers", n), zap.Duration("timeout", timeout))
		}
		cancelHandlers()
		if !waitFor(handlersDone, cut) {
			// 5. Bound: abort every engine call; a handler that ignores its context must
			// not hold the process: its lock is no longer extended and runs out.
			cancelReports()
			if !waitFor(handlersDone, r.closeAfter(stopLinger, finished)) {
				r.log.Error("handlers ignore cancellation; stopping without them", zap.Int("handlers", r.runningCount()))
			}
		}
	}
	cancelHandlers()

	// The sweep ends by requestTimeout, or at the cut.
	if !waitFor(sweepDone, cut) {
		cancelReports()
		<-sweepDone
	}
}

// closeAfter returns a channel closed after d on the runtime's clock, or never once
// finished is closed.
func (r *Runtime) closeAfter(d time.Duration, finished <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-r.clock.After(d):
			close(ch)
		case <-finished:
		}
	}()
	return ch
}

// waitFor waits for done until limit closes; it reports whether done came first (a done
// that is already closed wins over a limit that is too).
func waitFor(done, limit <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-limit:
		return false
	}
}

func (r *Runtime) runningCount() int {
	r.runningMu.Lock()
	defer r.runningMu.Unlock()
	return len(r.running)
}

// unlockOrphans unlocks every task the engine shows locked by this worker that has no running
