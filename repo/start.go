package repo

import (
	"context"
	"fmt"
	"time"
)

// The start protocol's columns (migration 003) and the replicas' heartbeats.
//
// A process started through the daemon's HTTP API gets exactly one engine instance per
// correlation id, whatever crashes, retries or replica losses happen in between. The row is
// the lock: only the caller whose BeginStart inserted it starts the process (attempt 1, under
// a lease); a retry that finds the row PENDING with no instance recorded and the lease run out
// asks the engine whether the instance exists, and only if it does not takes the start over
// with ClaimStart, a guarded update on the attempt number it read (a fencing token). The
// protocol, as a state table, is in README.md ("Exactly one process per correlation id").

// StartState is a process_store row as the start protocol reads it: the row, the process it
// belongs to, the engine instance recorded for it, and its start claim. The start columns are
// not part of Record because the waitroom's batched status reads (Statuses) do not need them.
type StartState struct {
	Record
	// ProcessKey is the process definition key the row was registered for by BeginStart; ""
	// for rows registered by Create (the waitroom library, the Node.js service), which the
	// start protocol only waits on.
	ProcessKey string
	// ProcessInstanceID is the engine's instance id recorded by SetInstance; "" until then.
	ProcessInstanceID string
	// Attempt is the start claim's number: 1 for the row's creator, one more for each
	// takeover by ClaimStart; 0 for rows registered by Create. It is the fencing token of
	// ClaimStart and ReleaseStart.
	Attempt int64
	// LeaseLeft is how long the current start claim still holds, by the database clock; 0 once
	// it ran out or was released, and for rows without a claim.
	LeaseLeft time.Duration
}

// Startable reports whether the start protocol may take this row's start over: it is PENDING,
// was registered for a process (ProcessKey set), has no instance recorded and no live claim.
func (s StartState) Startable() bool {
	return s.Status == StatusPending && s.ProcessKey != "" && s.ProcessInstanceID == "" && s.LeaseLeft <= 0
}

// Starts is the start protocol's part of the Store contract.
type Starts interface {
	// BeginStart inserts a PENDING row for id owned by this store's owner, registered for
	// process key, with start claim 1 held for lease (database clock), unless a row with that
	// id exists. created reports whether this call inserted the row: only then may the caller
	// start the process. Otherwise nothing changes and the existing row is returned.
	BeginStart(ctx context.Context, id, key string, lease time.Duration) (st StartState, created bool, err error)
	// ReadStart returns the row with its start columns, or an error wrapping ErrNotFound.
	ReadStart(ctx context.Context, id string) (StartState, error)
	// ClaimStart takes the start of a Startable row over: if the row is still PENDING, has a
	// process key and no instance, its claim is still number attempt and that claim's lease ran
	// out, it sets claim attempt+1 held for lease and reports true. Any change in between (a
	// competing claim, a recorded instance, a finished row) makes it report false and change
	// nothing.
	ClaimStart(ctx context.Context, id string, attempt int64, lease time.Duration) (bool, error)
	// ReleaseStart ends claim attempt at once (its lease runs out now), for a caller that knows
	// its start never reached the engine, so a retry need not wait out the lease. It reports
	// false and changes nothing when the claim is no longer attempt or an instance is recorded.
	ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error)
	// SetInstance records the engine's process instance id on the row unless one is recorded
	// already, whatever the row's status (a fast process may finish its row before its start
	// call has answered). It returns the instance id the row holds afterwards: instanceID
	// when this call recorded it, another one when a different instance was recorded first
	// (two instances exist for one id). An unknown id is an error wrapping ErrNotFound.
	SetInstance(ctx context.Context, id, instanceID string) (recorded string, err error)
}

// WorkerBeat is one replica's heartbeat row.
type WorkerBeat struct {
	// WorkerID is the replica's Camunda worker id.
	WorkerID string
	// Age is the time since its last beat, by the database clock.
	Age time.Duration
}

// Heartbeats is the replicas' liveness record: each replica beats every second or so, and a
// survivor hands the external tasks of a replica whose beats stopped back to the engine, so a
// killed replica costs seconds instead of a lock duration. Times come from the database
// clock, so the hosts' clocks need not agree.
type Heartbeats interface {
	// Beat records that worker is alive now (inserting its row the first time).
	Beat(ctx context.Context, worker string) error
	// Workers lists every heartbeat row with the age of its last beat.
	Workers(ctx context.Context) ([]WorkerBeat, error)
	// ForgetWorker deletes worker's row if its last beat is at least olderThan old (0 deletes
	// it whatever its age, for a replica stopping cleanly), and reports whether it did.
	ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error)
}

// MaxLease bounds the leases BeginStart and ClaimStart take, and ForgetWorker's olderThan:
// long enough for any sane configuration, short enough that the millisecond arithmetic of
// every dialect stays exact.
const MaxLease = 24 * time.Hour

// MaxProcessKeyLength is the longest process definition key a row records (the column is
// VARCHAR(255), like the engine's KEY_).
const MaxProcessKeyLength = 255

// MaxInstanceIDLength is the longest engine instance id a row records (VARCHAR(64), like the
// engine's ID_).
const MaxInstanceIDLength = 64

// ValidateLease checks a lease or age argument: from 1 ms to MaxLease, or from 0 when
// zeroOK.
func ValidateLease(what string, d time.Duration, zeroOK bool) error {
	low := time.Millisecond
	if zeroOK {
		low = 0
	}
	if d < low || d > MaxLease {
		return fmt.Errorf("%w: %s %s is out of range: use %s to %s", ErrInvalidArgument, what, d, low, MaxLease)
	}
	return nil
}

// ValidateProcessKey checks a process definition key: 1 to 255 characters from
// [A-Za-z0-9._-] (the HTTP API's rule for {key}).
func ValidateProcessKey(key string) error {
	if key == "" || len(key) > MaxProcessKeyLength {
		return fmt.Errorf("%w: process key %s: 1 to %d characters from [A-Za-z0-9._-]", ErrInvalidArgument, echo(key), MaxProcessKeyLength)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !idByte(c) || c == ':' {
			return fmt.Errorf("%w: process key %s: byte %d (%q) is not allowed; 1 to %d characters from [A-Za-z0-9._-]", ErrInvalidArgument, echo(key), i, c, MaxProcessKeyLength)
		}
	}
	return nil
}

// ValidateInstanceID checks an engine instance id or a worker id: the id rule (1 to 64
// characters from [A-Za-z0-9._:-]), which the engine's UUIDs and our worker ids follow.
func ValidateInstanceID(what, id string) error {
	if p := idProblem(id); p != "" {
		return fmt.Errorf("%w: %s %s: %s; 1 to 64 characters from [A-Za-z0-9._:-]", ErrInvalidArgument, what, echo(id), p)
	}
	return nil
}
