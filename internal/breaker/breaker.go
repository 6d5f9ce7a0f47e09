// Package breaker puts a circuit breaker in front of the process_store: after a run of
// consecutive database failures it stops sending statements for a while and fails calls at
// once with ErrOpen, so a database that is down is not hammered by every poll, handler and
// request; /readyz reports the open circuit. Caller mistakes (bad ids or bodies, not found,
// the caller's own cancellation) never count as failures.
package breaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// ErrOpen: the circuit is open; the call was not sent to the database.
var ErrOpen = errors.New("process_store circuit open: the database failed repeatedly; calls are refused until a trial call succeeds")

// Settings configures the breaker.
type Settings struct {
	// Failures is how many consecutive failures open the circuit.
	Failures int
	// OpenFor is how long the circuit stays open before one trial call is let through.
	OpenFor time.Duration
}

// Store is a repo.Store behind a circuit breaker.
type Store struct {
	s   repo.Store
	cb  *gobreaker.CircuitBreaker[struct{}]
	log *zap.Logger

	mu      sync.Mutex
	lastErr error
	since   time.Time

	opens, rejected atomic.Uint64
}

// State is the circuit's state. Its numbers are the values of the state gauge
// (camunda_waitroom_store_breaker_state), so they never change.
type State int

// The circuit's states.
const (
	// Closed: calls go to the database.
	Closed State = 0
	// HalfOpen: OpenFor has passed; one trial call goes to the database, the others are refused.
	HalfOpen State = 1
	// Open: calls are refused with ErrOpen.
	Open State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Stats is what an operator needs to see of the circuit: read by the metrics at each scrape,
// so a breaker that opens and closes between two scrapes still shows in Opens and Rejected.
type Stats struct {
	State State
	// Opens counts the transitions to open: from closed after Failures consecutive failures,
	// and from half-open when the trial call failed.
	Opens uint64
	// Rejected counts the calls refused with ErrOpen, which never reached the database.
	Rejected uint64
}

var _ repo.Store = (*Store)(nil)

// New wraps s.
func New(s repo.Store, set Settings, log *zap.Logger) *Store {
	b := &Store{s: s, log: log}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "process_store",
		MaxRequests: 1,
		Timeout:     set.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(set.Failures) },
		IsExcluded:  callerError,
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.opens.Add(1)
			}
			b.mu.Lock()
			last := b.lastErr
			if to == gobreaker.StateOpen && from == gobreaker.StateClosed {
				b.since = time.Now()
			}
			b.mu.Unlock()
			switch to {
			case gobreaker.StateOpen:
				if from == gobreaker.StateClosed {
					log.Error("database failing: circuit open, refusing store calls", zap.Duration("open_for", set.OpenFor), logging.Err(last))
				}
			case gobreaker.StateClosed:
				log.Info("database answers again: circuit closed")
			}
		},
	})
	return b
}

// callerError reports errors that say nothing about the database's health.
func callerError(err error) bool {
	return errors.Is(err, repo.ErrInvalidID) || errors.Is(err, repo.ErrInvalidJSON) ||
		errors.Is(err, repo.ErrTooLarge) || errors.Is(err, repo.ErrInvalidArgument) ||
		errors.Is(err, repo.ErrNotFound) || errors.Is(err, repo.ErrIDConflict) || errors.Is(err, context.Canceled)
}

// Check is the /readyz check: a ping of the database through the breaker. While the circuit
// is closed the ping tests the database; while it is open Check fails at once, naming the
// last failure; once OpenFor has passed, the ping is the half-open trial call, so /readyz
// alone closes the circuit when the database is back. (Reporting "not ready" in half-open
// without making the trial would keep a replica that gets no traffic but /readyz out of
// service for good: nothing else would ever make the call that closes the circuit.)
func (b *Store) Check(ctx context.Context) error {
	err := b.Ping(ctx)
	if !errors.Is(err, ErrOpen) {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Errorf("circuit %s since %s after repeated failures; last: %v", b.cb.State(), b.since.UTC().Format(time.RFC3339), b.lastErr)
}

// Stats returns the circuit's state and counters. Like every call, reading the state moves an
// open circuit whose OpenFor has passed to half-open.
func (b *Store) Stats() Stats {
	st := Closed
	switch b.cb.State() {
	case gobreaker.StateHalfOpen:
		st = HalfOpen
	case gobreaker.StateOpen:
		st = Open
	}
	return Stats{State: st, Opens: b.opens.Load(), Rejected: b.rejected.Load()}
}

func (b *Store) do(f func() error) error {
	_, err := b.cb.Execute(func() (struct{}, error) {
		err := f()
		if err != nil && !callerError(err) {
			b.mu.Lock()
			b.lastErr = err
			b.mu.Unlock()
		}
		return struct{}{}, err
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		b.rejected.Add(1)
		return ErrOpen
	}
	return err
}

func (b *Store) Create(ctx context.Context, id string) (r repo.Record, err error) {
	err = b.do(func() (e error) { r, e = b.s.Create(ctx, id); return })
	return
}

func (b *Store) Complete(ctx context.Context, id string, payload json.RawMessage) (o repo.Outcome, err error) {
	err = b.do(func() (e error) { o, e = b.s.Complete(ctx, id, payload); return })
	return
}

func (b *Store) Fail(ctx context.Context, id string, errBody json.RawMessage) (o repo.Outcome, err error) {
	err = b.do(func() (e error) { o, e = b.s.Fail(ctx, id, errBody); return })
	return
}

func (b *Store) InsertFinished(ctx context.Context, id string, status repo.Status, body json.RawMessage) (ok bool, err error) {
	err = b.do(func() (e error) { ok, e = b.s.InsertFinished(ctx, id, status, body); return })
	return
}

func (b *Store) Find(ctx context.Context, id string) (r repo.Record, err error) {
	err = b.do(func() (e error) { r, e = b.s.Find(ctx, id); return })
	return
}

func (b *Store) Statuses(ctx context.Context, ids []string) (rs []repo.Record, err error) {
	err = b.do(func() (e error) { rs, e = b.s.Statuses(ctx, ids); return })
	return
}

func (b *Store) List(ctx context.Context, opts repo.ListOptions) (rs []repo.Record, next string, err error) {
	err = b.do(func() (e error) { rs, next, e = b.s.List(ctx, opts); return })
	return
}

func (b *Store) Delete(ctx context.Context, id string) (ok bool, err error) {
	err = b.do(func() (e error) { ok, e = b.s.Delete(ctx, id); return })
	return
}

func (b *Store) PendingCount(ctx context.Context) (n int64, err error) {
	err = b.do(func() (e error) { n, e = b.s.PendingCount(ctx); return })
	return
}

func (b *Store) ClearOwned(ctx context.Context, errBody json.RawMessage) (n int64, err error) {
	err = b.do(func() (e error) { n, e = b.s.ClearOwned(ctx, errBody); return })
	return
}

func (b *Store) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (n int64, err error) {
	err = b.do(func() (e error) { n, e = b.s.DeleteFinishedBefore(ctx, cutoff, batch); return })
	return
}

func (b *Store) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (n int64, err error) {
	err = b.do(func() (e error) { n, e = b.s.ExpirePendingBefore(ctx, cutoff, batch, errBody); return })
	return
}

func (b *Store) Ping(ctx context.Context) error { return b.do(func() error { return b.s.Ping(ctx) }) }

func (b *Store) Close() error { return b.s.Close() }
