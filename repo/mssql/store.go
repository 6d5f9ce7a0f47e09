// Package mssql is the process_store on SQL Server and Azure SQL
// (github.com/microsoft/go-mssqldb, driver name "sqlserver", or "azuresql" for Entra ID
// logins), on the Node.js service's table dbo.process_store.
//
// Honesty note: no SQL Server was at hand to run this store against. The statements
// follow the rules written at the top of sql.go (READCOMMITTEDLOCK with every READPAST;
// exact, binary id comparison; UPDLOCK, HOLDLOCK upsert; OPENJSON batched reads; capped TOP
// batches; typed NULLs; retried transient errors), store_test.go checks them and their
// argument types as text and drives the Go side against a fake driver, and the shared
// conformance suite runs against a real server only when WAITROOM_TEST_MSSQL_DSN is set.
// Their behaviour on SQL Server has not been observed.
package mssql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/internal/storeutil"
)

// DriverName is the database/sql driver the store uses: go-mssqldb's "sqlserver", which
// takes @name parameters.
const DriverName = "sqlserver"

// EntraDriverName is go-mssqldb's driver for Microsoft Entra ID (Azure AD) logins, registered
// by importing github.com/microsoft/go-mssqldb/azuread. OpenDB uses it when the DSN has a
// fedauth parameter. This package does not import azuread itself, so that a program using
// the store with SQL logins does not link the Azure SDK; the worker daemon imports it.
const EntraDriverName = "azuresql"

// Store is the SQL Server process_store. It implements repo.Store.
type Store struct {
	db       *sql.DB
	owner    string
	maxBody  int
	settings Settings
	retry    retryPolicy
}

var _ repo.Store = (*Store)(nil)

// OpenDB opens a pool on dsn, e.g.
// "sqlserver://user:pass@host:1433?database=camunda_db&encrypt=true&app+name=waitroom"
// (encrypt=true or strict in production; TrustServerCertificate=true only in tests; "app
// name" shows the service in sys.dm_exec_sessions). A DSN with a fedauth parameter (an
// Entra ID login, e.g. "sqlserver://host?database=db&fedauth=ActiveDirectoryDefault") opens
// with EntraDriverName, which the program must register by importing
// github.com/microsoft/go-mssqldb/azuread; OpenDB says so when it is missing. The database
// needs compatibility level 130 or later; New checks.
func OpenDB(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("mssql: empty DSN")
	}
	name, err := driverFor(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(name, dsn)
	if err != nil {
		return nil, fmt.Errorf("mssql: open: %w", err)
	}
	return db, nil
}

// driverFor picks the driver for dsn: EntraDriverName when it has a fedauth parameter.
func driverFor(dsn string) (string, error) {
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		// The driver reports the same problem, with more context, when it connects.
		return DriverName, nil
	}
	fedauth := cfg.Parameters["fedauth"]
	if fedauth == "" {
		return DriverName, nil
	}
	if !slices.Contains(sql.Drivers(), EntraDriverName) {
		return "", fmt.Errorf("mssql: the DSN asks for an Entra ID login (fedauth=%s), but the %q driver is not registered: import _ \"github.com/microsoft/go-mssqldb/azuread\" in the program (the worker daemon does)",
			fedauth, EntraDriverName)
	}
	return EntraDriverName, nil
}

// Open opens opts.DSN with OpenDB and returns the store on it. It does not migrate: run
// migrations.Up first (stores.Open does when opts.Migrate is set).
func Open(ctx context.Context, opts repo.Options) (*Store, error) {
	db, err := OpenDB(opts.DSN)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// New returns the store on db (opened with OpenDB), which it owns from then on (Close
// closes it). opts.Driver and opts.DSN are not used. New checks opts, pings, and reads the
// database's Settings: it refuses a compatibility level below MinCompatibilityLevel with an
// error wrapping repo.ErrUnsupportedDatabase that says what to run.
func New(ctx context.Context, db *sql.DB, opts repo.Options) (*Store, error) {
	opts = opts.WithDefaults()
	if err := opts.ValidateCommon(); err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("mssql: ping: %w", err)
	}
	set, err := readSettings(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("mssql: %w", err)
	}
	if err := set.check(); err != nil {
		return nil, fmt.Errorf("mssql: %w", err)
	}
	return &Store{db: db, owner: opts.Owner, maxBody: opts.MaxBodyBytes, settings: set, retry: defaultRetry}, nil
}

// Settings returns what New read from the database.
func (s *Store) Settings() Settings { return s.settings }

// IDsFoldCase reports whether correlation_id's collation ignores letter case, so that the
// table cannot hold two ids that differ only in case (the second gets repo.ErrIDConflict).
// The conformance suite (repotest.CaseFolder) reads it.
func (s *Store) IDsFoldCase() bool { return s.settings.IDCaseInsensitive }

// DB returns the pool, for migrations and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Create registers a wait. The rule, as in every dialect: insert a PENDING row; if the id
// exists and is PENDING, refresh updated_at and owner (started_at stays); if it exists and is
// finished, change nothing and return it as it is. A finished row is never reset to PENDING.
// One batch: UPDATE ... WITH (UPDLOCK, HOLDLOCK) ... AND status = 'PENDING', INSERT when no
// row holds the key, SELECT, in one transaction (rule 3 of sql.go). No row back means an id
// that differs only in case holds the key: repo.ErrIDConflict.
func (s *Store) Create(ctx context.Context, id string) (repo.Record, error) {
	if err := repo.ValidateID(id); err != nil {
		return repo.Record{}, fmt.Errorf("create: %w", err)
	}
	rec, err := retry(ctx, s.retry, true, func() (repo.Record, error) {
		return scanRecord(s.db.QueryRowContext(ctx, sqlCreate, argsCreate(id, s.owner)...))
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = s.conflict(id)
	}
	if err != nil {
		return repo.Record{}, fmt.Errorf("create %s: %w", id, err)
	}
	return rec, nil
}

// conflict is the error for an id whose key a row with different bytes holds.
func (s *Store) conflict(id string) error {
	return fmt.Errorf("%w: a row whose id differs from %q only in letter case exists, and correlation_id's collation (%s) cannot hold both; use another id",
		repo.ErrIDConflict, id, s.settings.IDCollation)
}

// Complete moves a PENDING row to DONE; see repo.Store.
func (s *Store) Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error) {
	return s.transition(ctx, "complete", sqlComplete, id, "payload", payload)
}

// Fail moves a PENDING row to ERROR; see repo.Store.
func (s *Store) Fail(ctx context.Context, id string, errBody json.RawMessage) (repo.Outcome, error) {
	return s.transition(ctx, "fail", sqlFail, id, "error body", errBody)
}

func (s *Store) transition(ctx context.Context, op, stmt, id, bodyName string, body json.RawMessage) (repo.Outcome, error) {
	if err := repo.ValidateID(id); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := repo.ValidateBody(bodyName, body, s.maxBody); err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, id, err)
	}
	out, err := storeutil.Transition(ctx,
		func(ctx context.Context) (int64, error) { return s.count(ctx, stmt, argsTransition(id, body)...) },
		func(ctx context.Context) (repo.Status, bool, error) { return s.statusOf(ctx, id) })
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return out, nil
}

func (s *Store) statusOf(ctx context.Context, id string) (repo.Status, bool, error) {
	st, err := retry(ctx, s.retry, false, func() (string, error) {
		var st string
		err := s.db.QueryRowContext(ctx, sqlStatusOf, argsID(id)...).Scan(&st)
		return st, err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return repo.Status(st), true, nil
}

// InsertFinished inserts a DONE or ERROR row without owner unless the id exists; see
// repo.Store. An id that differs only in case holding the key is repo.ErrIDConflict.
func (s *Store) InsertFinished(ctx context.Context, id string, status repo.Status, body json.RawMessage) (bool, error) {
	if err := repo.ValidateID(id); err != nil {
		return false, fmt.Errorf("insert finished: %w", err)
	}
	if err := storeutil.CheckFinished(status); err != nil {
		return false, err
	}
	if err := repo.ValidateBody(storeutil.BodyName(status), body, s.maxBody); err != nil {
		return false, fmt.Errorf("insert finished %s: %w", id, err)
	}
	payload, errBody := storeutil.FinishedBodies(status, body)
	type result struct{ inserted, exists int }
	r, err := retry(ctx, s.retry, true, func() (result, error) {
		var r result
		err := s.db.QueryRowContext(ctx, sqlInsertFinished, argsInsertFinished(id, status, payload, errBody)...).Scan(&r.inserted, &r.exists)
		return r, err
	})
	switch {
	case err != nil:
		return false, fmt.Errorf("insert finished %s: %w", id, err)
	case r.inserted == 1:
		return true, nil
	case r.exists == 1:
		return false, nil
	}
	return false, fmt.Errorf("insert finished %s: %w", id, s.conflict(id))
}

// Find returns one row or an error wrapping repo.ErrNotFound.
func (s *Store) Find(ctx context.Context, id string) (repo.Record, error) {
	if err := repo.ValidateID(id); err != nil {
		return repo.Record{}, fmt.Errorf("find: %w", err)
	}
	rec, err := retry(ctx, s.retry, false, func() (repo.Record, error) {
		return scanRecord(s.db.QueryRowContext(ctx, sqlFind, argsID(id)...))
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = repo.ErrNotFound
	}
	if err != nil {
		return repo.Record{}, fmt.Errorf("find %s: %w", id, err)
	}
	return rec, nil
}

// Statuses reads many rows, one statement per chunk of repo.StatusesChunkSize ids, passed as
// a JSON array to OPENJSON, skipping locked rows (READCOMMITTEDLOCK, READPAST).
func (s *Store) Statuses(ctx context.Context, ids []string) ([]repo.Record, error) {
	ids, err := storeutil.CheckIDs(ids)
	if err != nil {
		return nil, err
	}
	batches, err := argsStatuses(ids)
	if err != nil {
		return nil, fmt.Errorf("statuses: %w", err)
	}
	var out []repo.Record
	for _, args := range batches {
		out, err = s.query(ctx, out, sqlStatuses, args...)
		if err != nil {
			return nil, fmt.Errorf("statuses of %d ids: %w", len(ids), err)
		}
	}
	return out, nil
}

// List returns one keyset page ordered by correlation id, in the column's collation.
func (s *Store) List(ctx context.Context, opts repo.ListOptions) ([]repo.Record, string, error) {
	opts, err := storeutil.CheckList(opts)
	if err != nil {
		return nil, "", err
	}
	stmt, args := argsList(opts)
	rows, err := s.query(ctx, nil, stmt, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	rows, next := storeutil.Page(rows, opts.Limit)
	return rows, next, nil
}

// Delete removes one row and reports whether it existed.
func (s *Store) Delete(ctx context.Context, id string) (bool, error) {
	if err := repo.ValidateID(id); err != nil {
		return false, fmt.Errorf("delete: %w", err)
	}
	n, err := s.count(ctx, sqlDelete, argsID(id)...)
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", id, err)
	}
	return n == 1, nil
}

// PendingCount counts PENDING rows of every owner.
func (s *Store) PendingCount(ctx context.Context) (int64, error) {
	n, err := retry(ctx, s.retry, false, func() (int64, error) {
		var n int64
		err := s.db.QueryRowContext(ctx, sqlPendingCount).Scan(&n)
		return n, err
	})
	if err != nil {
		return 0, fmt.Errorf("pending count: %w", err)
	}
	return n, nil
}

// ClearOwned marks ERROR every PENDING row of this store's owner.
func (s *Store) ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error) {
	if err := repo.ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("clear owned: %w", err)
	}
	n, err := s.count(ctx, sqlClearOwned, argsClearOwned(s.owner, errBody)...)
	if err != nil {
		return 0, fmt.Errorf("clear owned by %s: %w", s.owner, err)
	}
	return n, nil
}

// DeleteFinishedBefore deletes at most batch finished rows with updated_at before cutoff,
// skipping rows other sessions hold locked, in statements of at most maxStatementBatch rows.
func (s *Store) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if err := storeutil.CheckBatch("delete finished", batch); err != nil {
		return 0, err
	}
	n, err := s.batched(batch, func(part int) (int64, error) {
		return s.count(ctx, sqlDeleteFinishedBefore, argsDeleteFinished(cutoff, part)...)
	})
	if err != nil {
		return 0, fmt.Errorf("delete finished before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// ExpirePendingBefore marks ERROR at most batch PENDING rows with started_at before cutoff,
// skipping rows other sessions hold locked, in statements of at most maxStatementBatch rows.
func (s *Store) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error) {
	if err := storeutil.CheckBatch("expire pending", batch); err != nil {
		return 0, err
	}
	if err := repo.ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("expire pending: %w", err)
	}
	n, err := s.batched(batch, func(part int) (int64, error) {
		return s.count(ctx, sqlExpirePendingBefore, argsExpirePending(cutoff, part, errBody)...)
	})
	if err != nil {
		return 0, fmt.Errorf("expire pending before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// batched runs stmt for batch rows in statements of at most maxStatementBatch rows each
// (rule 6 of sql.go), until the rows are done or a statement comes back short, and returns
// the total. Each statement commits on its own, so a failure keeps what earlier ones did.
func (s *Store) batched(batch int, stmt func(part int) (int64, error)) (int64, error) {
	var total int64
	for left := batch; left > 0; {
		part := min(left, maxStatementBatch)
		n, err := stmt(part)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(part) {
			break
		}
		left -= part
	}
	return total, nil
}

// count runs a write batch that ends in SELECT @@ROWCOUNT, retrying transient errors.
func (s *Store) count(ctx context.Context, stmt string, args ...any) (int64, error) {
	return retry(ctx, s.retry, false, func() (int64, error) {
		var n int64
		err := s.db.QueryRowContext(ctx, stmt, args...).Scan(&n)
		return n, err
	})
}

// query runs a read, retrying transient errors, and appends its rows to out.
func (s *Store) query(ctx context.Context, out []repo.Record, stmt string, args ...any) ([]repo.Record, error) {
	return retry(ctx, s.retry, false, func() ([]repo.Record, error) {
		return s.queryOnce(ctx, out, stmt, args...)
	})
}

func (s *Store) queryOnce(ctx context.Context, out []repo.Record, stmt string, args ...any) ([]repo.Record, error) {
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

func scanRecord(row interface{ Scan(...any) error }) (repo.Record, error) {
	var (
		rec                     repo.Record
		status                  string
		payload, errBody, owner sql.NullString
		started, updated        time.Time
	)
	if err := row.Scan(&rec.CorrelationID, &status, &payload, &errBody, &owner, &started, &updated); err != nil {
		return repo.Record{}, err
	}
	rec.Status = repo.Status(status)
	if payload.Valid {
		rec.Payload = json.RawMessage(payload.String)
	}
	if errBody.Valid {
		rec.Error = json.RawMessage(errBody.String)
	}
	rec.Owner = owner.String
	rec.StartedAt, rec.UpdatedAt = utcWall(started), utcWall(updated)
	return rec, nil
}

// utcWall reads a DATETIME2 value, which holds UTC without a zone: go-mssqldb attaches the
// connection's time zone to it, so keep the wall clock and call it UTC.
func utcWall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
