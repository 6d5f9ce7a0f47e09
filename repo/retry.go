package repo

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryClass says what SQLStore does after a statement failed with an error.
type RetryClass int

const (
	// RetryNever: the error is returned as it is.
	RetryNever RetryClass = iota
	// RetryTransient: the statement is sent again after a jittered, growing pause (a
	// deadlock victim, a database moving).
	RetryTransient
	// RetryInsertRace: a concurrent insert of the same key won, and the statement's work
	// rolled back whole; sent again it takes the "row exists" path. SQLStore acts on it only
	// for the statements that insert an id that may exist (Create, InsertFinished,
	// BeginStart, Beat); for any other it is RetryNever.
	RetryInsertRace
)

// RetryPolicy is a dialect's retry classification hook and its bounds. SQLStore runs every
// Executor call but Ping and Close through it.
type RetryPolicy struct {
	// Classify sorts a statement's error; inserts is set for the statements that insert an
	// id that may exist. Nil classifies every error RetryNever.
	Classify func(err error, inserts bool) RetryClass
	// Attempts bounds the sends of one statement, the first included.
	Attempts uint
	// Pause is the pause before the second send; it doubles (with ±50 % jitter, so that
	// replicas hit by one failover do not come back in step) up to MaxPause.
	Pause, MaxPause time.Duration
}

// retry runs fn until it succeeds, fails with an error p does not retry, the attempts run
// out, or ctx ends; it returns fn's last error (joined with ctx's when ctx ended the wait).
func retry[T any](ctx context.Context, p RetryPolicy, inserts bool, fn func(context.Context) (T, error)) (T, error) {
	if p.Classify == nil || p.Attempts <= 1 {
		return fn(ctx)
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = p.Pause, p.MaxPause, 2, 0.5
	var last error
	v, err := backoff.Retry(ctx, func() (T, error) {
		v, err := fn(ctx)
		last = err
		if err == nil {
			return v, nil
		}
		switch p.Classify(err, inserts) {
		case RetryTransient:
			return v, err
		case RetryInsertRace:
			if inserts {
				return v, err
			}
		}
		return v, backoff.Permanent(err)
	}, backoff.WithBackOff(b), backoff.WithMaxTries(p.Attempts), backoff.WithMaxElapsedTime(0))
	if err == nil {
		return v, nil
	}
	if last != nil && !errors.Is(err, last) { // ctx ended the pause: keep the database's error too
		return v, errors.Join(last, err)
	}
	return v, last
}
