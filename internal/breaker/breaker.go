// Package breaker puts a circuit breaker in front of the process_store: after a run of
// consecutive database failures it stops sending statements for a while and fails calls at
// once with ErrOpen, so a database that is down is not hammered by every poll, handler and
// request; /readyz reports the open circuit. Caller mistakes (bad ids or bodies, not found,
// an id conflict, the caller's own cancellation) never count as failures.
//
// The breaker is a repo.Interceptor: repo.Wrap(store, b.Intercept) puts it around every
// store call.
package breaker

import (
	"context"
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

// Breaker is the store's circuit breaker. Create it with New and wrap the store with its
// Intercept (repo.Wrap).
type Breaker struct {
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

var _ repo.Interceptor = (*Breaker)(nil).Intercept

// New returns a closed breaker.
func New(set Settings, log *zap.Logger) *Breaker {
	b := &Breaker{log: log}
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

// Check is the /readyz check of store, a store wrapped with b.Intercept: a ping of the
// database through the breaker. While the circuit is closed the ping tests the database;
// while it is open Check fails at once, naming the last failure; once OpenFor has passed, the
// ping is the half-open trial call, so /readyz alone closes the circuit when the database is
// back. (Reporting "not ready" in half-open without making the trial would keep a replica
// that gets no traffic but /readyz out of service for good: nothing else would ever make the
// call that closes the circuit.)
func (b *Breaker) Check(ctx context.Context, store repo.Store) error {
	err := store.Ping(ctx)
	if !errors.Is(err, ErrOpen) {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Errorf("circuit %s since %s after repeated failures; last: %v", b.cb.State(), b.since.UTC().Format(time.RFC3339), b.lastErr)
}

// Stats returns the circuit's state and counters. Like every call, reading the state moves an
// open circuit whose OpenFor has passed to half-open.
func (b *Breaker) Stats() Stats {
	st := Closed
	switch b.cb.State() {
	case gobreaker.StateHalfOpen:
		st = HalfOpen
	case gobreaker.StateOpen:
		st = Open
	}
	return Stats{State: st, Opens: b.opens.Load(), Rejected: b.rejected.Load()}
}

// Intercept is the breaker as a repo.Interceptor: it runs call through the circuit, or
// refuses it with ErrOpen (then nothing reaches the database).
func (b *Breaker) Intercept(ctx context.Context, _ string, call func(context.Context) error) error {
	_, err := b.cb.Execute(func() (struct{}, error) {
		err := call(ctx)
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
