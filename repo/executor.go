package repo

import (
	"context"
	"time"
)

// Executor is one SQL dialect's side of the store: each method runs one statement (one round
// trip) in the dialect's own SQL and reports what it found. Arguments arrive validated; the
// methods add no context to errors and retry nothing. Everything above one statement is
// SQLStore's, written once for every dialect: validation, chunking, paging, batch splitting,
// the retries its Dialect.Retry asks for, and the follow-up reads that explain a statement
// that changed nothing.
//
// A method that finds no row returns ErrNotFound as it is. A dialect whose table cannot hold
// an id beside one that differs only in letter case (SQL Server with a case-insensitive
// collation) returns an error wrapping ErrIDConflict from the inserting methods.
type Executor interface {
	// Create inserts a PENDING row for id owned by owner, or refreshes a PENDING row's owner
	// and updated_at (keeping started_at), and returns the row as it is after the statement,
	// with ok set. A finished row is left alone; a statement that then returns no row
	// reports ok false, and SQLStore reads the row.
	Create(ctx context.Context, id, owner string) (rec Record, ok bool, err error)
	// Finish moves a PENDING row to status (DONE, with body as payload_json; ERROR, with
	// body as error_json) and reports whether it did.
	Finish(ctx context.Context, id string, status Status, body []byte) (bool, error)
	// StatusOf reads one row's status.
	StatusOf(ctx context.Context, id string) (Status, error)
	// InsertFinished inserts a finished row without owner unless a row holds id's key, and
	// reports whether it inserted. payload or errBody is nil (NULL).
	InsertFinished(ctx context.Context, id string, status Status, payload, errBody []byte) (bool, error)
	// Find reads one row.
	Find(ctx context.Context, id string) (Record, error)
	// Statuses reads the rows of ids: at most StatusesChunkSize of them, each once.
	Statuses(ctx context.Context, ids []string) ([]Record, error)
	// List reads at most opts.Limit rows whose ids sort after opts.After, in id order, with
	// status opts.Status when it is set.
	List(ctx context.Context, opts ListOptions) ([]Record, error)
	// Delete removes one row and reports whether it existed.
	Delete(ctx context.Context, id string) (bool, error)
	// PendingCount counts PENDING rows.
	PendingCount(ctx context.Context) (int64, error)
	// ClearOwned marks ERROR, with errBody, the PENDING rows of owner and counts them.
	ClearOwned(ctx context.Context, owner string, errBody []byte) (int64, error)
	// DeleteFinishedBefore deletes at most limit finished rows with updated_at before
	// cutoff and counts them.
	DeleteFinishedBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// ExpirePendingBefore marks ERROR, with errBody, at most limit PENDING rows with
	// started_at before cutoff and counts them.
	ExpirePendingBefore(ctx context.Context, cutoff time.Time, limit int, errBody []byte) (int64, error)

	// BeginStart inserts id's row with start claim 1 held for lease unless a row holds id's
	// key, and reports whether it inserted; st is the inserted row (anything else when
	// created is false: SQLStore reads the existing row then).
	BeginStart(ctx context.Context, id, owner, key string, lease time.Duration) (st StartState, created bool, err error)
	// ReadStart reads one row with its start columns.
	ReadStart(ctx context.Context, id string) (StartState, error)
	// ClaimStart takes claim attempt over (see Starts.ClaimStart) for owner.
	ClaimStart(ctx context.Context, id, owner string, attempt int64, lease time.Duration) (bool, error)
	// ReleaseStart ends claim attempt now.
	ReleaseStart(ctx context.Context, id string, attempt int64) (bool, error)
	// SetInstance records instanceID unless the row holds one, and returns the instance the
	// row holds after the statement, or "" when the statement recorded nothing and cannot
	// tell (SQLStore reads the row then).
	SetInstance(ctx context.Context, id, instanceID string) (string, error)
	// Beat records worker's heartbeat.
	Beat(ctx context.Context, worker string) error
	// Workers lists the heartbeat rows.
	Workers(ctx context.Context) ([]WorkerBeat, error)
	// ForgetWorker deletes worker's row if its last beat is at least olderThan old.
	ForgetWorker(ctx context.Context, worker string, olderThan time.Duration) (bool, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the pool.
	Close() error
}

// Dialect is what SQLStore needs to know of one SQL dialect: its statements and the few facts
// the shared logic adapts to.
type Dialect struct {
	// Name is the dialect's Options.Driver value (DriverSQLite, DriverPostgres,
	// DriverMSSQL).
	Name string
	// Exec runs the dialect's statements.
	Exec Executor
	// MaxStatementBatch caps the rows one retention statement touches: SQLStore splits a
	// larger batch into statements of at most this many rows, and stops at the first that
	// comes back short. 0 means no cap (one statement per call).
	MaxStatementBatch int
	// Retry says which failed statements SQLStore sends again; the zero value sends none
	// again.
	Retry RetryPolicy
}
