package waitroom

import (
	"fmt"
	"time"
)

// Defaults of Options, exported so that a caller (the daemon's configuration, a front
// service's own) can state or test them instead of copying the numbers.
const (
	// MaxWaitersDefault is Options.MaxWaiters when unset.
	MaxWaitersDefault = 10000
	// NotifyPollIntervalDefault is Options.NotifyPollInterval when unset.
	NotifyPollIntervalDefault = time.Second
	// PollIntervalDefault is Options.PollInterval when unset: the worst-case delay of a wake
	// when no push path reaches the waiter.
	PollIntervalDefault = 40 * time.Millisecond
	// QueryTimeoutDefault is Options.QueryTimeout when unset.
	QueryTimeoutDefault = 5 * time.Second
	// StopTimeoutDefault is Options.StopTimeout when unset.
	StopTimeoutDefault = 5 * time.Second
	// TimeoutDefault is Options.Timeout when unset: the Node.js service's SYNC_TIMEOUT_MS
	// default, 25 s.
	TimeoutDefault = 25 * time.Second
)

// Options configures a Room. It belongs to this package, not to the daemon's configuration,
// so that a front service importing waitroom links nothing of the daemon: the daemon maps its
// waitroom.* keys onto these fields. The zero value is usable: New applies WithDefaults, so a
// caller sets only what it changes.
type Options struct {
	// ClearOnShutdown makes Stop mark this instance's PENDING rows ERROR (with the body of
	// WithShutdownErrorBody) and hand that error to local waiters: the Node.js service's
	// clearAll, limited to this instance's rows. Defaults to false: a process still running
	// completes its row later, and a client can collect the result by id.
	ClearOnShutdown bool

	// MaxWaiters bounds the waits in progress or reserved at once; past it a wait fails at
	// once with ErrTooManyWaiters. Defaults to MaxWaitersDefault (10000).
	MaxWaiters int

	// NotifyPollInterval replaces PollInterval while the PostgreSQL LISTEN connection is up:
	// polling is then only the safety net for a lost notification. Defaults to
	// NotifyPollIntervalDefault (1 s).
	NotifyPollInterval time.Duration

	// PollInterval is the period of the batched status read while someone waits (and no
	// listener is up). Defaults to PollIntervalDefault (40 ms).
	PollInterval time.Duration

	// PollOnly turns the store's push path off even when the store has one (see Listener):
	// no listening, no published bodies, only the batched poll. Defaults to false: a Room on
	// a store with a listener (repo/postgres) listens.
	PollOnly bool

	// QueryTimeout bounds each query of the dispatcher; waiters are not bound by it.
	// Defaults to QueryTimeoutDefault (5 s).
	QueryTimeout time.Duration

	// StopTimeout bounds the database work of Run's stop (ClearOnShutdown's update and the
	// read that hands its error to local waiters). Stop itself is bounded by its ctx instead.
	// Defaults to StopTimeoutDefault (5 s).
	StopTimeout time.Duration

	// Timeout is how long one wait lasts before it returns ErrTimeout (the row stays
	// PENDING). Defaults to TimeoutDefault (25 s).
	Timeout time.Duration
}

// WithDefaults returns a copy of o with every unset (zero) field set to its default.
func (o Options) WithDefaults() Options {
	if o.MaxWaiters == 0 {
		o.MaxWaiters = MaxWaitersDefault
	}
	if o.NotifyPollInterval == 0 {
		o.NotifyPollInterval = NotifyPollIntervalDefault
	}
	if o.PollInterval == 0 {
		o.PollInterval = PollIntervalDefault
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = QueryTimeoutDefault
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = StopTimeoutDefault
	}
	if o.Timeout == 0 {
		o.Timeout = TimeoutDefault
	}
	return o
}

// validate reports the first field that cannot work, naming it. It expects WithDefaults to
// have run: what is left at or below zero was set so.
func (o Options) validate() error {
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"NotifyPollInterval", o.NotifyPollInterval},
		{"PollInterval", o.PollInterval},
		{"QueryTimeout", o.QueryTimeout},
		{"StopTimeout", o.StopTimeout},
		{"Timeout", o.Timeout},
	}
	if o.MaxWaiters < 0 {
		return fmt.Errorf("waitroom: Options.MaxWaiters is %d: must be positive (0 means %d)", o.MaxWaiters, MaxWaitersDefault)
	}
	for _, f := range positive {
		if f.d < 0 {
			return fmt.Errorf("waitroom: Options.%s is %s: must be positive (0 means its default)", f.name, f.d)
		}
	}
	return nil
}
