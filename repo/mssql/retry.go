package mssql

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
	mssql "github.com/microsoft/go-mssqldb"
)

// SQL Server error numbers the store acts on.
const (
	errDeadlockVictim = 1205
	errDuplicateKey   = 2627 // PRIMARY KEY or UNIQUE constraint
	errDuplicateIndex = 2601 // unique index
)

// transientErrors are the error numbers after which the same statement, sent again a little
// later, may succeed: a deadlock victim's transaction was rolled back whole, and Azure SQL
// Database's errors below are its documented transient faults (a database moving, being
// reconfigured or short of resources). The list is from Microsoft's documentation; none of
// these has been observed by this project.
var transientErrors = map[int32]string{
	errDeadlockVictim: "deadlock victim",
	4060:              "cannot open the database (Azure SQL: moving or restarting)",
	40197:             "the service had an error processing the request (Azure SQL: reconfiguration)",
	40501:             "the service is busy (Azure SQL)",
	40613:             "the database is not currently available (Azure SQL)",
	49918:             "not enough resources to process the request (Azure SQL)",
}

// retryClass says what retry does after an error.
type retryClass int

const (
	// giveUp: the error is returned as it is.
	giveUp retryClass = iota
	// transient: the statement is sent again after a jittered, growing pause.
	transient
	// insertRace: a concurrent insert of the same key won (rule 3 of sql.go); the batch
	// rolled back and, sent again, takes the "row exists" path. Only for statements that
	// insert.
	insertRace
)

// classify sorts an error for retry. inserts is set for the statements that insert an id
// that may exist (sqlCreate, sqlInsertFinished).
func classify(err error, inserts bool) retryClass {
	class := giveUp
	for _, n := range errorNumbers(err) {
		if _, ok := transientErrors[n]; ok {
			return transient
		}
		if inserts && (n == errDuplicateKey || n == errDuplicateIndex) {
			class = insertRace
		}
	}
	return class
}

// retryPolicy bounds retry: attempts in all, and the pause before the second attempt, which
// doubles (with ±50 % jitter, so replicas hit by one failover do not come back in step) up
// to maxPause.
type retryPolicy struct {
	attempts        uint
	pause, maxPause time.Duration
}

// defaultRetry spends at most about 1.5 s in pauses: long enough to ride out a deadlock or a
// brief Azure SQL reconfiguration, short enough that a longer outage reaches the caller (and
// the circuit breaker) quickly.
var defaultRetry = retryPolicy{attempts: 5, pause: 100 * time.Millisecond, maxPause: time.Second}

// retry runs fn until it succeeds, fails with an error classify does not retry, the
// attempts run out, or ctx ends; it returns fn's last error (joined with ctx's when ctx
// ended the wait). inserts is passed to classify.
func retry[T any](ctx context.Context, p retryPolicy, inserts bool, fn func() (T, error)) (T, error) {
	if p.attempts == 0 { // a zero Store: backoff reads 0 tries as "no limit"
		p = defaultRetry
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = p.pause, p.maxPause, 2, 0.5
	var last error
	v, err := backoff.Retry(ctx, func() (T, error) {
		v, err := fn()
		last = err
		if err != nil && classify(err, inserts) == giveUp {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(p.attempts), backoff.WithMaxElapsedTime(0))
	if err == nil {
		return v, nil
	}
	if last != nil && !errors.Is(err, last) { // ctx ended the pause: keep the database's error too
		return v, errors.Join(last, err)
	}
	return v, last
}

// errorNumbers returns the numbers of every SQL Server error in err: go-mssqldb reports the
// last error of a batch in Number and all of them, first to last, in All, and the one that
// matters (2627 before a follow-up error, say) need not be the last.
func errorNumbers(err error) []int32 {
	var me mssql.Error
	if !errors.As(err, &me) {
		return nil
	}
	out := []int32{me.Number}
	for _, e := range me.All {
		out = append(out, e.Number)
	}
	return out
}
