package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SQLStore is the Store every dialect shares: the contract's logic over a Dialect's
// Executor. A dialect package builds one with NewSQLStore and embeds it in its own Store
// type, which adds what only that dialect has (its pool, its settings, its listener).
type SQLStore struct {
	exec    Executor
	d       Dialect
	owner   string
	maxBody int
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns the store on d. It applies opts.WithDefaults, validates opts for the
// dialect (each error names the field) and touches no database: a dialect's New calls it
// before its first statement, so that bad options fail before any connection.
func NewSQLStore(d Dialect, opts Options) (*SQLStore, error) {
	if d.Exec == nil || d.Name == "" {
		return nil, errors.New("repo: NewSQLStore needs a Dialect with a Name and an Exec")
	}
	opts = opts.WithDefaults()
	if err := opts.validate(d.Name); err != nil {
		return nil, err
	}
	return &SQLStore{exec: d.Exec, d: d, owner: opts.Owner, maxBody: opts.MaxBodyBytes}, nil
}

// maxAttempts bounds the follow-up loops of Create, Complete, Fail, BeginStart and
// SetInstance. Another round happens only when another writer deletes or recreates the same
// row between two statements.
const maxAttempts = 5

// Create registers a wait; see Store. When the upsert finds the row finished, the row is read
// and returned as it is; when the read finds nothing the row was deleted in between, and the
// upsert runs again.
func (s *SQLStore) Create(ctx context.Context, id string) (Record, error) {
	if err := ValidateID(id); err != nil {
		return Record{}, fmt.Errorf("create: %w", err)
	}
	rec, err := s.create(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("create %s: %w", id, err)
	}
	return rec, nil
}

func (s *SQLStore) create(ctx context.Context, id string) (Record, error) {
	type upserted struct {
		rec Record
		ok  bool
	}
	for range maxAttempts {
		u, err := retry(ctx, s.d.Retry, true, func(ctx context.Context) (upserted, error) {
			rec, ok, err := s.exec.Create(ctx, id, s.owner)
			return upserted{rec, ok}, err
		})
		if err != nil {
			return Record{}, err
		}
		if u.ok {
			return u.rec, nil
		}
		rec, err := s.find(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		return rec, err
	}
	return Record{}, errors.New("the row kept disappearing between the upsert and the read")
}

// Complete moves a PENDING row to DONE; see Store.
func (s *SQLStore) Complete(ctx context.Context, id string, payload json.RawMessage) (Outcome, error) {
	return s.transition(ctx, "complete", id, StatusDone, "payload", payload)
}

// Fail moves a PENDING row to ERROR; see Store.
func (s *SQLStore) Fail(ctx context.Context, id string, errBody json.RawMessage) (Outcome, error) {
	return s.transition(ctx, "fail", id, StatusError, "error body", errBody)
}

// transition runs the guarded update and, when it changed no row, reads the status to tell
// AlreadyFinished from NotFound. A row that is PENDING at the read was created after the
// update ran; the update runs again then.
func (s *SQLStore) transition(ctx context.Context, op, id string, to Status, bodyName string, body json.RawMessage) (Outcome, error) {
	if err := ValidateID(id); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := ValidateBody(bodyName, body, s.maxBody); err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, id, err)
	}
	out, err := s.settle(ctx, id, to, body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return out, nil
}

func (s *SQLStore) settle(ctx context.Context, id string, to Status, body []byte) (Outcome, error) {
	for range maxAttempts {
		done, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (bool, error) {
			return s.exec.Finish(ctx, id, to, body)
		})
		if err != nil {
			return 0, err
		}
		if done {
			return Transitioned, nil
		}
		st, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (Status, error) {
			return s.exec.StatusOf(ctx, id)
		})
		switch {
		case errors.Is(err, ErrNotFound):
			return NotFound, nil
		case err != nil:
			return 0, err
		case st.Finished():
			return AlreadyFinished, nil
		}
	}
	return 0, errors.New("the row stayed PENDING while the guarded update matched nothing; is another writer recreating it?")
}

// InsertFinished inserts a DONE or ERROR row without owner unless the id exists; see Store.
func (s *SQLStore) InsertFinished(ctx context.Context, id string, status Status, body json.RawMessage) (bool, error) {
	if err := ValidateID(id); err != nil {
		return false, fmt.Errorf("insert finished: %w", err)
	}
	if !status.Finished() {
		return false, fmt.Errorf("insert finished: %w: status %q: it must be DONE or ERROR",
			ErrInvalidArgument, truncate(string(status)))
	}
	payload, errBody, name := []byte(body), []byte(nil), "payload"
	if status == StatusError {
		payload, errBody, name = nil, body, "error body"
	}
	if err := ValidateBody(name, body, s.maxBody); err != nil {
		return false, fmt.Errorf("insert finished %s: %w", id, err)
	}
	ok, err := retry(ctx, s.d.Retry, true, func(ctx context.Context) (bool, error) {
		return s.exec.InsertFinished(ctx, id, status, payload, errBody)
	})
	if err != nil {
		return false, fmt.Errorf("insert finished %s: %w", id, err)
	}
	return ok, nil
}

// Find returns one row or an error wrapping ErrNotFound.
func (s *SQLStore) Find(ctx context.Context, id string) (Record, error) {
	if err := ValidateID(id); err != nil {
		return Record{}, fmt.Errorf("find: %w", err)
	}
	rec, err := s.find(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("find %s: %w", id, err)
	}
	return rec, nil
}

func (s *SQLStore) find(ctx context.Context, id string) (Record, error) {
	return retry(ctx, s.d.Retry, false, func(ctx context.Context) (Record, error) {
		return s.exec.Find(ctx, id)
	})
}

// Statuses reads many rows, one statement per chunk of StatusesChunkSize ids; see Store.
func (s *SQLStore) Statuses(ctx context.Context, ids []string) ([]Record, error) {
	ids, err := checkIDs(ids)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, chunk := range chunks(ids, StatusesChunkSize) {
		recs, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) ([]Record, error) {
			return s.exec.Statuses(ctx, chunk)
		})
		if err != nil {
			return nil, fmt.Errorf("statuses of %d ids: %w", len(chunk), err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// List returns one keyset page ordered by correlation id; see Store. It reads one row more
// than the page holds: when that row comes back, the page's last id is the next cursor.
func (s *SQLStore) List(ctx context.Context, opts ListOptions) ([]Record, string, error) {
	opts, err := checkList(opts)
	if err != nil {
		return nil, "", err
	}
	read := opts
	read.Limit++
	rows, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) ([]Record, error) {
		return s.exec.List(ctx, read)
	})
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	if len(rows) <= opts.Limit {
		return rows, "", nil
	}
	rows = rows[:opts.Limit]
	return rows, rows[opts.Limit-1].CorrelationID, nil
}

// Delete removes one row and reports whether it existed.
func (s *SQLStore) Delete(ctx context.Context, id string) (bool, error) {
	if err := ValidateID(id); err != nil {
		return false, fmt.Errorf("delete: %w", err)
	}
	ok, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (bool, error) {
		return s.exec.Delete(ctx, id)
	})
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", id, err)
	}
	return ok, nil
}

// PendingCount counts PENDING rows of every owner.
func (s *SQLStore) PendingCount(ctx context.Context) (int64, error) {
	n, err := retry(ctx, s.d.Retry, false, s.exec.PendingCount)
	if err != nil {
		return 0, fmt.Errorf("pending count: %w", err)
	}
	return n, nil
}

// ClearOwned marks ERROR every PENDING row of this store's owner; see Store.
func (s *SQLStore) ClearOwned(ctx context.Context, errBody json.RawMessage) (int64, error) {
	if err := ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("clear owned: %w", err)
	}
	n, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (int64, error) {
		return s.exec.ClearOwned(ctx, s.owner, errBody)
	})
	if err != nil {
		return 0, fmt.Errorf("clear owned by %s: %w", s.owner, err)
	}
	return n, nil
}

// DeleteFinishedBefore deletes at most batch finished rows with updated_at before cutoff; see
// Store.
func (s *SQLStore) DeleteFinishedBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if err := checkBatch("delete finished", batch); err != nil {
		return 0, err
	}
	n, err := s.batched(ctx, batch, func(ctx context.Context, part int) (int64, error) {
		return s.exec.DeleteFinishedBefore(ctx, cutoff, part)
	})
	if err != nil {
		return 0, fmt.Errorf("delete finished before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// ExpirePendingBefore marks ERROR at most batch PENDING rows with started_at before cutoff;
// see Store.
func (s *SQLStore) ExpirePendingBefore(ctx context.Context, cutoff time.Time, batch int, errBody json.RawMessage) (int64, error) {
	if err := checkBatch("expire pending", batch); err != nil {
		return 0, err
	}
	if err := ValidateBody("error body", errBody, s.maxBody); err != nil {
		return 0, fmt.Errorf("expire pending: %w", err)
	}
	n, err := s.batched(ctx, batch, func(ctx context.Context, part int) (int64, error) {
		return s.exec.ExpirePendingBefore(ctx, cutoff, part, errBody)
	})
	if err != nil {
		return 0, fmt.Errorf("expire pending before %s: %w", cutoff.UTC().Format(time.RFC3339Nano), err)
	}
	return n, nil
}

// batched runs stmt for batch rows in statements of at most Dialect.MaxStatementBatch rows
// each, until the rows are done or a statement comes back short, and returns the total. Each
// statement commits on its own, so a failure keeps what earlier ones did.
func (s *SQLStore) batched(ctx context.Context, batch int, stmt func(ctx context.Context, part int) (int64, error)) (int64, error) {
	limit := s.d.MaxStatementBatch
	if limit <= 0 {
		limit = batch
	}
	var total int64
	for left := batch; left > 0; {
		part := min(left, limit)
		n, err := retry(ctx, s.d.Retry, false, func(ctx context.Context) (int64, error) { return stmt(ctx, part) })
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

// Ping checks that the database answers. It is never retried: it is how callers learn that
// the database is down.
func (s *SQLStore) Ping(ctx context.Context) error { return s.exec.Ping(ctx) }

// Close releases the pool.
func (s *SQLStore) Close() error { return s.exec.Close() }
