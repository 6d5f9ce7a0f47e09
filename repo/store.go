// Package repo owns the process_store table: one Store contract, one implementation of it
// (SQLStore: validation, chunking, paging, batch splitting, retries, the start protocol's
// race handling) over a small per-dialect Executor whose methods run one statement each, one
// dialect package per SQL dialect (repo/sqlite, repo/postgres, repo/mssql: the executor,
// its SQL and its quirks), and one conformance suite (repo/repotest) that every dialect
// passes unchanged. Wrap puts cross-cutting concerns (a circuit breaker, metrics) around
// every call of a Store, written once.
//
// The table is the Node.js service's (see migrations/mssql/001_create_process_store.up.sql) plus a
// nullable owner column (002_add_owner.up.sql): which instance registered a wait, so that
// shutting one replica down clears only its own waits; and the start protocol's columns and
// the replicas' heartbeat table (003_start_protocol.up.sql, see start.go).
//
// Construct a store with New or Open of one dialect package (a program that imports one
// dialect links only that SQL driver), or, in the daemon, with stores.Open (package
// repo/stores), which dispatches on Options.Driver and so links all three.
package repo

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Status is the state of a process_store row. A row starts PENDING and moves once, to DONE or
// ERROR; it never moves back.
type Status string

// The three states of a row, spelled as the Node.js service stores them.
const (
	StatusPending Status = "PENDING"
	StatusDone    Status = "DONE"
	StatusError   Status = "ERROR"
)

// Finished reports whether the status is terminal (DONE or ERROR).
func (s Status) Finished() bool { return s == StatusDone || s == StatusError }

// Record is one process_store row.
type Record struct {
	CorrelationID string
	Status        Status
	// Payload is payload_json: the process's result, set when DONE; nil when NULL.
	Payload json.RawMessage
	// Error is error_json: the failure body, set when ERROR; nil when NULL.
	Error json.RawMessage
	// Owner is the instance that registered the wait; "" when NULL (rows written by the
	// Node.js service, or created finished by a worker).
	Owner     string
	StartedAt time.Time
	UpdatedAt time.Time
}

// Outcome tells what a guarded transition (Complete, Fail) did.
type Outcome int

const (
	// Transitioned: the row was PENDING and this call moved it to DONE or ERROR.
	Transitioned Outcome = iota + 1
	// AlreadyFinished: the row was DONE or ERROR already; nothing changed. Repeating a
	// transition lands here, and it is not an error.
	AlreadyFinished
	// NotFound: no row with that correlation id; nothing changed.
	NotFound
)

func (o Outcome) String() string {
	switch o {
	case Transitioned:
		return "transitioned"
	case AlreadyFinished:
		return "already_finished"
	case NotFound:
		return "not_found"
	}
	return "unknown"
}

// ListOptions selects one page of List. Pages are keyset-paginated by correlation id, so a page
// costs the same wherever it is in the table.
type ListOptions struct {
	// Status filters by status; "" lists every status.
	Status Status
	// After is the cursor: list ids strictly greater than this one; "" starts at the beginning.
	After string
	// Limit is the page size: 1 to MaxListLimit; 0 means DefaultListLimit.
	Limit int
}

// Page sizes for List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// StatusesChunkSize is the most ids Statuses sends in one statement. SQL Server takes at most
// 2,100 parameters a request, so its ids travel as one JSON array per chunk, and a chunk this
// size keeps that array and its plan small. Every dialect chunks at the same size, so the
// conformance suite exercises the chunking everywhere.
const StatusesChunkSize = 2000

// Sentinel errors callers branch on. Implementations wrap them with context.
var (
	// ErrNotFound: no row with that correlation id.
	ErrNotFound = errors.New("process_store: not found")
	// ErrInvalidID: the correlation id breaks the rule in ValidateID.
	ErrInvalidID = errors.New("invalid correlation id")
	// ErrInvalidJSON: a payload or error body is not valid JSON.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrTooLarge: a payload or error body is over the store's size limit.
	ErrTooLarge = errors.New("body too large")
	// ErrInvalidArgument: an argument other than an id or a body is out of range: a List
	// limit or status filter, a batch size, an InsertFinished status that is not finished.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrIDConflict: the id differs only in letter case from an id that has a row, and the
	// table cannot hold both (a SQL Server table whose correlation_id collation ignores case).
	// Ids are compared byte for byte, so the existing row is not this id's: the call changed
	// nothing. The HTTP API answers 409. PostgreSQL and SQLite never return it.
	ErrIDConflict = errors.New("correlation id conflicts with an existing id that differs only in letter case")
	// ErrUnsupportedDatabase: the database lacks something the store needs (for example a SQL
	// Server compatibility level below 130). Retrying does not help; the error says what to
	// change.
	ErrUnsupportedDatabase = errors.New("unsupported database")
)

// Store is the process_store contract. Every method validates its input first (ids with
// ValidateID, bodies as JSON within the size limit) and touches nothing when input is bad.
// updated_at always comes from the database clock.
//
// Ids are compared byte for byte in every dialect: two ids that differ only in letter case
// never share a row or a result. Where the table cannot hold both (SQL Server with a
// case-insensitive collation on correlation_id), creating the second fails with ErrIDConflict
// and reading it finds nothing.
type Store interface {
	// Create registers a wait: it inserts a PENDING row owned by this store's owner, or, when a
	// PENDING row exists already, refreshes its updated_at and owner (started_at is kept, so
	// ExpirePendingBefore measures from the first registration). A row that already finished
	// is left untouched (never reset to PENDING), so a late or repeated registration sees the
	// result. It returns the row as it is after the call, or ErrIDConflict when the table
	// cannot hold id beside an existing id that differs only in case.
	Create(ctx context.Context, id string) (Record, error)
	// Complete moves a PENDING row to DONE with payload (valid JSON). First writer wins.
	Complete(ctx context.Context, id string, payload json.RawMessage) (Outcome, error)
	// Fail moves a PENDING row to ERROR with errBody (valid JSON). First writer wins.
	Fail(ctx context.Context, id string, errBody json.RawMessage) (Outcome, error)
	// InsertFinished inserts a row that is already DONE (body is the payload) or ERROR (body is
	// the error), with no owner, for a result whose wait was never registered or was cleaned
	// up, so a late reader still finds it. It reports false and changes nothing if a row with
	// that id exists, and fails with ErrIDConflict as Create does.
	InsertFinished(ctx context.Context, id string, status Status, body json.RawMessage) (bool, error)
	// Find returns one row, or an error wrapping ErrNotFound.
	Find(ctx context.Context, id string) (Record, error)
	// Statuses reads many rows in one statement per chunk of at most StatusesChunkSize ids.
	// It returns the rows that exist, in no particular order, each once (duplicate ids are
	// read once); ids without a row are absent. Rows a writer holds locked may be skipped
	// (SQL Server READPAST) and read on the caller's next tick.
	Statuses(ctx context.Context, ids []string) ([]Record, error)
	// List returns one page of rows ordered by correlation id, and the cursor for the next
	// page ("" when this was the last).
	List(ctx context.Context, opts ListOptions) ([]Record, string, error)
	// Delete removes one row and reports whether it existed.
	Delete(ctx context.Context, id string) (bool, error)
	// PendingCount counts PENDING rows of every owner.
	PendingCount(ctx context.Context) (int64, error)
	// ClearOwned marks ERROR, with errBody, every PENDING row this store's owner created, and
	// returns how many. Other owners' rows are never touched (the Node.js service cleared
	// everyone's).
	ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error)
	// DeleteFinishedBefore deletes at most batch DONE or ERROR rows whose updated_at is before
	// cutoff, and returns how many. Callers loop until it returns less than batch.
	DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error)
	// ExpirePendingBefore marks ERROR, with errBody, at most batch PENDING rows whose
	// started_at is before cutoff, and returns how many.
	ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the connection pool.
	Close() error

	// The start protocol (BeginStart, ReadStart, ClaimStart, ReleaseStart, SetInstance) and
	// the replicas' heartbeats: see start.go.
	Starts
	Heartbeats
}
