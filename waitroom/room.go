// Package waitroom lets front services wait, in milliseconds and at a database cost that does not
// grow with the number of waiters, until a process_store row leaves PENDING.
//
// It replaces the Node.js service's waitroom (createWait, completeWait, failWait, clearAll,
// hasPendingWait, getPendingCount), which ran one SELECT per waiting request on a 50 ms to 1 s
// schedule. Here one dispatcher per process holds correlation id -> waiters and reads the status
// of every awaited id in one batched Store.Statuses call per tick, only while someone waits.
// Three push paths wake waiters sooner than the tick:
//
//   - completions made through this Room (Complete, Fail, InsertFinished: the daemon's own
//     worker) wake local waiters at once with the written body, no read;
//   - when the store has a push path (a Listener: repo/postgres's LISTEN/NOTIFY) and
//     Options.PollOnly is not set, the store's notifications of finished ids make the Room
//     read just those ids at once; and a Room that completes a row also publishes the body
//     through it, so waiters in other replicas wake without any read;
//   - while the listener is up the batched poll slows to Options.NotifyPollInterval: it is
//     only the safety net for dropped notifications. While it is down, polling runs at
//     Options.PollInterval.
//
// A waiter's timeout or cancellation removes that waiter only: the dispatcher's queries run on
// the Room's own context with a timeout, never on a waiter's.
//
// The package is a library: it takes its own Options and imports only repo (the store
// contract) and zap. It does not know which database it talks to: a store that has a push
// path hands it over as a Listener. A front service links nothing of the daemon (its
// configuration, HTTP API or metrics).
//
// Lifecycle: Run(ctx) starts the Room, serves until ctx ends, then stops it; Start and Stop are
// the same two halves for a caller that stops with a deadline of its own. In the daemon one
// Room is built per process on the store, handed to the HTTP API and to the worker runtime (the
// runtime completes rows through Complete, Fail and InsertFinished, so its completions wake
// local waiters at once and reach other replicas' Rooms as body notifications), and stopped
// after both of them and before the store closes.
package waitroom

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// NotifyGraceDefault is how long an id-only notification waits for the body notification
// that a completing Room publishes right after its commit, before the dispatcher reads the
// row itself. See WithNotifyGrace.
const NotifyGraceDefault = 5 * time.Millisecond

// Sentinel errors callers branch on.
var (
	// ErrTimeout: the wait lasted Options.Timeout and the row is still PENDING. The row is left
	// PENDING so that the result can be collected later by id.
	ErrTimeout = errors.New("waitroom: timed out waiting for the process")
	// ErrTooManyWaiters: Options.MaxWaiters waits are in progress; the wait failed fast.
	ErrTooManyWaiters = errors.New("waitroom: too many concurrent waiters")
	// ErrClosed: the Room was stopped.
	ErrClosed = errors.New("waitroom: closed")
)

// ProcessError is the result of a wait whose row finished ERROR: Body is its error_json.
type ProcessError struct {
	CorrelationID string
	Body          json.RawMessage
}

func (e *ProcessError) Error() string {
	b := string(e.Body)
	if len(b) > 200 {
		b = b[:200] + "..."
	}
	return fmt.Sprintf("process %s failed: %s", e.CorrelationID, b)
}

// WakeSource says what woke a waiter, for metrics.
type WakeSource string

// The ways a waiter is woken.
const (
	WakeLocal  WakeSource = "local"  // a completion made through this Room
	WakeNotify WakeSource = "notify" // a store notification (with body, or a read of the notified ids)
	WakePoll   WakeSource = "poll"   // the batched poll, or a registration that found the row finished
)

// Metrics receives the Room's gauges and observations. Implementations must be cheap and safe
// for concurrent use; the default does nothing.
type Metrics interface {
	// SetWaiters reports the number of waiters in progress.
	SetWaiters(n int)
	// ObserveWake reports one woken waiter: lag is the time from the row's updated_at (the
	// database clock; 0 for local completions) to the wake, clamped at 0.
	ObserveWake(source WakeSource, lag time.Duration)
}

type noopMetrics struct{}

func (noopMetrics) SetWaiters(int)                        {}
func (noopMetrics) ObserveWake(WakeSource, time.Duration) {}

// Option configures New.
type Option func(*Room)

// WithLogger sets the logger (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(r *Room) { r.log = l } }

// WithClock replaces time.Now for metrics and the recent-results cache (timers are real).
func WithClock(now func() time.Time) Option { return func(r *Room) { r.now = now } }

// WithMetrics sets the metrics hooks.
func WithMetrics(m Metrics) Option { return func(r *Room) { r.metrics = m } }

// WithShutdownErrorBody sets the error body that Stop writes into this instance's PENDING rows
// when Options.ClearOnShutdown is set.
func WithShutdownErrorBody(body json.RawMessage) Option {
	return func(r *Room) { r.shutdownBody = body }
}

// WithNotifyGrace sets how long an id-only notification waits for a body notification before
// the dispatcher reads the row (default NotifyGraceDefault; 0 reads at once).
func WithNotifyGrace(d time.Duration) Option { return func(r *Room) { r.grace = d } }

// DefaultShutdownErrorBody is the error body Stop writes when Options.ClearOnShutdown is set.
var DefaultShutdownErrorBody = json.RawMessage(`{"error":"waitroom instance shutting down"}`)

// Room is one process's waitroom. Create it with New, Start it, and Stop it at shutdown.
type Room struct {
	store        repo.Store
	cfg          Options // after WithDefaults
	log          *zap.Logger
	metrics      Metrics
	now          func() time.Time
	listener     Listener // the store's push path; nil when it has none
	grace        time.Duration
	queryTimeout time.Duration
	shutdownBody json.RawMessage

	mu       sync.Mutex
	waiting  map[string]map[*waiter]struct{} // correlation id -> its waiters
	count    int                             // waiters in waiting
	reserved int                             // slots held by Reservations, not waiting now
	fresh    map[string]struct{}             // awaited ids not read since their first waiter came
	notified map[string]time.Time            // awaited ids notified, not read yet -> when
	recent   recentCache                     // results this Room knows without a read

	kick       chan struct{} // wakes the dispatcher: new waiters, notifications, stop
	stateCh    chan struct{} // the listener went up or down
	listening  atomic.Bool
	pubFailing atomic.Bool // in a failure streak of Publish: logged once
	closed     chan struct{}
	closeOnce  sync.Once

	startMu sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	pollFailing atomic.Bool // in a failure streak of reads: logged once
}

type waiter struct {
	ch chan repo.Record // buffered 1: the dispatcher never blocks on a waiter
	// reserved: the waiter holds a Reservation's slot, which goes back to the reservation
	// (not to the pool) when the wait ends.
	reserved bool
}

// New builds a Room on store with opts (zero fields take their defaults, see Options). It
// fails, naming the field, when a field cannot work.
func New(store repo.Store, opts Options, options ...Option) (*Room, error) {
	if store == nil {
		return nil, errors.New("waitroom: nil store")
	}
	cfg := opts.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Room{
		store:        store,
		cfg:          cfg,
		listener:     listenerOf(store),
		log:          zap.NewNop(),
		metrics:      noopMetrics{},
		now:          time.Now,
		grace:        NotifyGraceDefault,
		queryTimeout: cfg.QueryTimeout,
		shutdownBody: DefaultShutdownErrorBody,
		waiting:      make(map[string]map[*waiter]struct{}),
		fresh:        make(map[string]struct{}),
		notified:     make(map[string]time.Time),
		kick:         make(chan struct{}, 1),
		stateCh:      make(chan struct{}, 1),
		closed:       make(chan struct{}),
	}
	for _, o := range options {
		o(r)
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.metrics == nil {
		r.metrics = noopMetrics{}
	}
	if r.grace < 0 {
		r.grace = 0
	}
	r.recent = newRecentCache(recentCacheSize, recentCacheTTL)
	return r, nil
}

func (r *Room) notifyEnabled() bool { return !r.cfg.PollOnly && r.listener != nil }

// Start starts the dispatcher and, when the store has a listener and Options.PollOnly is not
// set, the listener. They run until Stop (or until ctx is cancelled). Waits work before Start, but only local
// completions wake them.
func (r *Room) Start(ctx context.Context) error {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	select {
	case <-r.closed:
		return ErrClosed
	default:
	}
	if r.started {
		return errors.New("waitroom: already started")
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.dispatch(ctx)
	}()
	if r.notifyEnabled() {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.listen(ctx)
		}()
	}
	return nil
}

// Stop shuts the Room down in stages: with Options.ClearOnShutdown it first marks this
// instance's PENDING rows ERROR (store.ClearOwned; other replicas' rows are never touched) and reads the
// awaited rows once more so local waiters get that error; then it stops the dispatcher and the
// listener, and wakes every remaining waiter with ErrClosed. ctx bounds the database
// work. Stop the HTTP server (draining its waits) before the Room.
func (r *Room) Stop(ctx context.Context) error {
	var err error
	if r.cfg.ClearOnShutdown {
		n, cerr := r.store.ClearOwned(ctx, r.shutdownBody)
		if cerr != nil {
			err = fmt.Errorf("waitroom: clear owned waits: %w", cerr)
			r.log.Warn("waitroom: clear owned waits at shutdown failed", zap.Error(cerr))
		} else {
			r.log.Info("waitroom: cleared owned waits at shutdown", zap.Int64("rows", n))
			if ids := r.awaitedIDs(); len(ids) > 0 {
				r.read(ctx, ids, WakePoll)
			}
		}
	}
	r.closeOnce.Do(func() { close(r.closed) })
	r.startMu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.startMu.Unlock()
	r.wg.Wait()
	return err
}

// Run starts the Room, blocks until ctx is done, then stops it: the daemon's lifecycle verb
// for each of its components (a run.Group actor). The stop's database work is bounded by
// Options.StopTimeout. Run returns Start's error, or Stop's.
func (r *Room) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.StopTimeout)
	defer cancel()
	return r.Stop(sctx)
}

// Register creates the wait's row (PENDING, owned by this instance) for id, or for a new
// random id when id is "", and returns the id. Registering an id whose row already finished
// leaves the row as it is, and a Wait on it returns that result at once.
func (r *Room) Register(ctx context.Context, id string) (string, error) {
	if id == "" {
		id = NewID()
	}
	rec, err := r.store.Create(ctx, id)
	if err != nil {
		return "", fmt.Errorf("waitroom: register %s: %w", id, err)
	}
	r.mu.Lock()
	if rec.Status.Finished() {
		r.recent.put(rec, r.now())
	} else {
		r.recent.forget(id) // a row deleted and registered again: forget its old result
	}
	r.mu.Unlock()
	return id, nil
}

// Await registers id ("" generates one) and waits for it: the Node.js service's createWait. It
// returns the id along with Wait's result.
func (r *Room) Await(ctx context.Context, id string) (string, json.RawMessage, error) {
	res, err := r.Reserve() // before creating a row nobody would wait on
	if err != nil {
		return id, nil, err
	}
	defer res.Release()
	id, err = r.Register(ctx, id)
	if err != nil {
		return id, nil, err
	}
	p, err := res.Wait(ctx, id)
	return id, p, err
}

// Reservation is one of Options.MaxWaiters wait slots, taken before anything is written or
// started for a wait (Reserve), so that concurrent starts cannot overshoot the limit: a start
// that gets no slot has done nothing yet, and one that got a slot always can wait. Release it
// when done; Wait on it as often as needed in between.
type Reservation struct {
	r    *Room
	once sync.Once
}

// Reserve takes a wait slot, or fails at once with ErrTooManyWaiters when Options.MaxWaiters
// waits are in progress or reserved.
func (r *Room) Reserve() (*Reservation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count+r.reserved >= r.cfg.MaxWaiters {
		return nil, ErrTooManyWaiters
	}
	r.reserved++
	return &Reservation{r: r}, nil
}

// Wait is Room.Wait on the reserved slot: it never fails with ErrTooManyWaiters. One wait at a
// time per reservation.
func (res *Reservation) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	return res.r.wait(ctx, id, true)
}

// Release gives the slot back. It is safe to call more than once, but not during a Wait.
func (res *Reservation) Release() {
	res.once.Do(func() {
		res.r.mu.Lock()
		res.r.reserved--
		res.r.mu.Unlock()
	})
}

// Wait blocks until id's row leaves PENDING and returns its DONE payload, or a *ProcessError
// with its ERROR body. It returns ErrTimeout after Options.Timeout (the row stays PENDING),
// ctx's error if ctx ends first, ErrTooManyWaiters at once when Options.MaxWaiters waits are
// in progress or reserved (Reserve), and ErrClosed when the Room stops. An id with no row is
// waited for like a PENDING one (InsertFinished may create it finished).
func (r *Room) Wait(ctx context.Context, id string) (json.RawMessage, error) {
	return r.wait(ctx, id, false)
}

// wait is Wait; reserved says the caller holds a Reservation, whose slot the wait uses.
func (r *Room) wait(ctx context.Context, id string, reserved bool) (json.RawMessage, error) {
	if id == "" {
		return nil, fmt.Errorf("waitroom: wait: %w", repo.ErrInvalidID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-r.closed:
		return nil, ErrClosed
	default:
	}
	w := &waiter{ch: make(chan repo.Record, 1), reserved: reserved}
	r.mu.Lock()
	if rec, ok := r.recent.get(id, r.now()); ok {
		r.mu.Unlock()
		return result(rec)
	}
	if reserved {
		r.reserved-- // the slot moves to the waiter, and back when it leaves
	} else if r.count+r.reserved >= r.cfg.MaxWaiters {
		r.mu.Unlock()
		return nil, ErrTooManyWaiters
	}
	set := r.waiting[id]
	if set == nil {
		set = make(map[*waiter]struct{}, 1)
		r.waiting[id] = set
		r.fresh[id] = struct{}{}
	}
	set[w] = struct{}{}
	r.count++
	n := r.count
	r.mu.Unlock()
	r.metrics.SetWaiters(n)
	r.signal()

	timer := time.NewTimer(r.cfg.Timeout)
	defer timer.Stop()
	var cause error
	select {
	case rec := <-w.ch:
		return result(rec)
	case <-timer.C:
		cause = ErrTimeout
	case <-ctx.Done():
		cause = ctx.Err()
	case <-r.closed:
		cause = ErrClosed
	}
	if !r.remove(id, w) {
		// Woken while leaving: the result is in the channel already.
		return result(<-w.ch)
	}
	return nil, cause
}

// remove takes w out of id's set; false means the dispatcher took it out to wake it.
func (r *Room) remove(id string, w *waiter) bool {
	r.mu.Lock()
	set := r.waiting[id]
	if _, ok := set[w]; !ok {
		r.mu.Unlock()
		return false
	}
	delete(set, w)
	if len(set) == 0 {
		delete(r.waiting, id)
		delete(r.fresh, id)
		delete(r.notified, id)
	}
	r.count--
	if w.reserved {
		r.reserved++
	}
	n := r.count
	r.mu.Unlock()
	r.metrics.SetWaiters(n)
	return true
}

func result(rec repo.Record) (json.RawMessage, error) {
	if rec.Status == repo.StatusError {
		return nil, &ProcessError{CorrelationID: rec.CorrelationID, Body: rec.Error}
	}
	return rec.Payload, nil
}

// wake hands rec to every waiter on its id. It reports how many were woken.
func (r *Room) wake(rec repo.Record, src WakeSource) int {
	r.mu.Lock()
	set := r.waiting[rec.CorrelationID]
	if set == nil {
		r.mu.Unlock()
		return 0
	}
	delete(r.waiting, rec.CorrelationID)
	delete(r.fresh, rec.CorrelationID)
	delete(r.notified, rec.CorrelationID)
	for w := range set {
		w.ch <- rec
		if w.reserved {
			r.reserved++
		}
	}
	r.count -= len(set)
	n := r.count
	r.mu.Unlock()
	r.metrics.SetWaiters(n)
	var lag time.Duration
	if src != WakeLocal && !rec.UpdatedAt.IsZero() {
		lag = max(r.now().Sub(rec.UpdatedAt), 0)
	}
	for range set {
		r.metrics.ObserveWake(src, lag)
	}
	return len(set)
}

// signal wakes the dispatcher without blocking.
func (r *Room) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Complete moves id's row from PENDING to DONE with payload (the Node.js service's completeWait)
// and, when this call made the transition, wakes local waiters at once with payload and publishes
// it to other replicas' Rooms (through the store's listener). The signature is the worker runtime's.
func (r *Room) Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error) {
	out, err := r.store.Complete(ctx, id, payload)
	if err != nil {
		return out, err
	}
	r.afterTransition(ctx, out, repo.Record{CorrelationID: id, Status: repo.StatusDone, Payload: payload})
	return out, nil
}

// Fail moves id's row from PENDING to ERROR with errBody (the Node.js service's failWait); local
// waiters get a *ProcessError at once. The signature is the worker runtime's.
func (r *Room) Fail(ctx context.Context, id string, errBody json.RawMessage) (repo.Outcome, error) {
	out, err := r.store.Fail(ctx, id, errBody)
	if err != nil {
		return out, err
	}
	r.afterTransition(ctx, out, repo.Record{CorrelationID: id, Status: repo.StatusError, Error: errBody})
	return out, nil
}

// InsertFinished inserts a row already DONE or ERROR (see repo.Store.InsertFinished) and, when
// it inserted one, wakes local waiters on that id. The signature is the worker runtime's.
func (r *Room) InsertFinished(ctx context.Context, id string, status repo.Status, body json.RawMessage) (bool, error) {
	ok, err := r.store.InsertFinished(ctx, id, status, body)
	if err != nil || !ok {
		return ok, err
	}
	rec := repo.Record{CorrelationID: id, Status: status}
	if status == repo.StatusError {
		rec.Error = body
	} else {
		rec.Payload = body
	}
	r.afterTransition(ctx, repo.Transitioned, rec)
	return true, nil
}

func (r *Room) afterTransition(ctx context.Context, out repo.Outcome, rec repo.Record) {
	switch out {
	case repo.Transitioned:
		now := r.now()
		rec.UpdatedAt = now
		r.mu.Lock()
		r.recent.put(rec, now)
		r.mu.Unlock()
		r.wake(rec, WakeLocal)
		if r.notifyEnabled() {
			r.publish(ctx, rec)
		}
	case repo.AlreadyFinished:
		// Someone else finished it, with a body we do not know: read it at once for local
		// waiters, if any.
		r.mu.Lock()
		_, awaited := r.waiting[rec.CorrelationID]
		if awaited {
			r.notified[rec.CorrelationID] = time.Time{}
		}
		r.mu.Unlock()
		if awaited {
			r.signal()
		}
	}
}

// HasPending reports whether id's row exists and is PENDING (the Node.js service's hasPendingWait).
func (r *Room) HasPending(ctx context.Context, id string) (bool, error) {
	rec, err := r.store.Find(ctx, id)
	if errors.Is(err, repo.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("waitroom: has pending %s: %w", id, err)
	}
	return rec.Status == repo.StatusPending, nil
}

// PendingCount counts PENDING rows of every instance (the Node.js service's getPendingCount).
func (r *Room) PendingCount(ctx context.Context) (int64, error) {
	n, err := r.store.PendingCount(ctx)
	if err != nil {
		return 0, fmt.Errorf("waitroom: pending count: %w", err)
	}
	return n, nil
}

// ClearOwned marks ERROR, with errBody, every PENDING row this instance registered (the
// Node.js service's clearAll, minus clearing other replicas' waits), wakes local waiters with
// that error, and returns how many rows changed.
func (r *Room) ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error) {
	n, err := r.store.ClearOwned(ctx, errBody)
	if err != nil {
		return 0, fmt.Errorf("waitroom: clear owned: %w", err)
	}
	if n > 0 {
		r.mu.Lock()
		for id := range r.waiting {
			r.notified[id] = time.Time{}
		}
		r.mu.Unlock()
		r.signal()
	}
	return n, nil
}

// Waiters returns the number of waits in progress in this Room.
func (r *Room) Waiters() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// Listening reports whether the store's listener is up (notifications flow).
func (r *Room) Listening() bool { return r.listening.Load() }

// NewID returns a random correlation id (a version 4 UUID).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func (r *Room) awaitedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.waiting))
	for id := range r.waiting {
		ids = append(ids, id)
	}
	return ids
}

const (
	recentCacheSize = 1024
	recentCacheTTL  = 30 * time.Second
)

// recentCache remembers the last results this Room learnt without a read (registrations that
// found the row finished, local completions), so a Wait that starts just after returns at once.
// Guarded by Room.mu.
type recentCache struct {
	ttl   time.Duration
	ring  []string
	next  int
	items map[string]recentItem
}

type recentItem struct {
	rec repo.Record
	at  time.Time
}

func newRecentCache(size int, ttl time.Duration) recentCache {
	return recentCache{ttl: ttl, ring: make([]string, size), items: make(map[string]recentItem, size)}
}

func (c *recentCache) put(rec repo.Record, now time.Time) {
	if _, ok := c.items[rec.CorrelationID]; !ok {
		if old := c.ring[c.next]; old != "" {
			delete(c.items, old)
		}
		c.ring[c.next] = rec.CorrelationID
		c.next = (c.next + 1) % len(c.ring)
	}
	c.items[rec.CorrelationID] = recentItem{rec: rec, at: now}
}

func (c *recentCache) forget(id string) {
	if it, ok := c.items[id]; ok {
		it.at = time.Time{} // expired; its ring slot is reused in turn
		c.items[id] = it
	}
}

func (c *recentCache) get(id string, now time.Time) (repo.Record, bool) {
	it, ok := c.items[id]
	if !ok || now.Sub(it.at) > c.ttl {
		return repo.Record{}, false
	}
	return it.rec, true
}
