package mssql

import (
	"errors"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
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

// retryClass is repo.RetryClass, under the names this package's tests use.
type retryClass = repo.RetryClass

const (
	// giveUp: the error is returned as it is.
	giveUp = repo.RetryNever
	// transient: the statement is sent again after a jittered, growing pause.
	transient = repo.RetryTransient
	// insertRace: a concurrent insert of the same key won (rule 3 of sql.go); the batch
	// rolled back and, sent again, takes the "row exists" path. Only for statements that
	// insert.
	insertRace = repo.RetryInsertRace
)

// classify is the store's retry classification hook (repo.RetryPolicy.Classify): it sorts an
// error for retry. inserts is set for the statements that insert an id that may exist
// (sqlCreate, sqlInsertFinished, sqlBeginStart, sqlBeat).
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

// retryPolicy bounds the retries: attempts in all, and the pause before the second attempt,
// which doubles (with ±50 % jitter, so replicas hit by one failover do not come back in
// step) up to maxPause.
type retryPolicy struct {
	attempts        uint
	pause, maxPause time.Duration
}

// defaultRetry spends at most about 1.5 s in pauses: long enough to ride out a deadlock or a
// brief Azure SQL reconfiguration, short enough that a longer outage reaches the caller (and
// the circuit breaker) quickly.
var defaultRetry = retryPolicy{attempts: 5, pause: 100 * time.Millisecond, maxPause: time.Second}

// repo returns p as the shared store's policy, with classify.
func (p retryPolicy) repo() repo.RetryPolicy {
	return repo.RetryPolicy{Classify: classify, Attempts: p.attempts, Pause: p.pause, MaxPause: p.maxPause}
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
