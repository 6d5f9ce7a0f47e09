// Package storeutil holds the dialect-independent parts of the process_store implementations:
// argument checks, id chunking, keyset cursors and the lookup that explains a guarded update
// that changed nothing. The SQL stays in each dialect's package.
package storeutil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// CheckIDs validates every id and returns them without duplicates, in first-seen order.
func CheckIDs(ids []string) ([]string, error) {
	seen := make(map[string]struct{}, len(ids))
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		if err := repo.ValidateID(id); err != nil {
			return nil, fmt.Errorf("statuses: ids[%d]: %w", i, err)
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out, nil
}

// Chunks splits ids into consecutive slices of at most size ids (sharing ids' array).
func Chunks(ids []string, size int) [][]string {
	if size <= 0 {
		panic("storeutil.Chunks: size must be positive")
	}
	var out [][]string
	for len(ids) > size {
		out = append(out, ids[:size:size])
		ids = ids[size:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// CheckList validates opts and fills in the default limit.
func CheckList(opts repo.ListOptions) (repo.ListOptions, error) {
	switch {
	case opts.Limit == 0:
		opts.Limit = repo.DefaultListLimit
	case opts.Limit < 0 || opts.Limit > repo.MaxListLimit:
		return opts, fmt.Errorf("list: %w: limit %d is out of range: use 1 to %d, or 0 for %d",
			repo.ErrInvalidArgument, opts.Limit, repo.MaxListLimit, repo.DefaultListLimit)
	}
	switch opts.Status {
	case "", repo.StatusPending, repo.StatusDone, repo.StatusError:
	default:
		return opts, fmt.Errorf("list: %w: status filter %q is not PENDING, DONE, ERROR or empty",
			repo.ErrInvalidArgument, truncate(string(opts.Status)))
	}
	if opts.After != "" {
		if err := repo.ValidateID(opts.After); err != nil {
			return opts, fmt.Errorf("list: cursor: %w", err)
		}
	}
	return opts, nil
}

// Page trims rows, read with a limit of limit+1, to limit and returns the cursor of the next
// page: the last id returned when a further row exists, "" otherwise.
func Page(rows []repo.Record, limit int) ([]repo.Record, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, rows[limit-1].CorrelationID
}

// CheckBatch validates the batch size of the retention operations.
func CheckBatch(op string, batch int) error {
	if batch < 1 {
		return fmt.Errorf("%s: %w: batch %d: it must be at least 1", op, repo.ErrInvalidArgument, batch)
	}
	return nil
}

// CheckFinished validates InsertFinished's status.
func CheckFinished(status repo.Status) error {
	if !status.Finished() {
		return fmt.Errorf("insert finished: %w: status %q: it must be DONE or ERROR",
			repo.ErrInvalidArgument, truncate(string(status)))
	}
	return nil
}

// FinishedBodies splits InsertFinished's body into the payload_json and error_json values.
func FinishedBodies(status repo.Status, body []byte) (payload, errBody []byte) {
	if status == repo.StatusDone {
		return body, nil
	}
	return nil, body
}

// BodyName names InsertFinished's body in validation errors.
func BodyName(status repo.Status) string {
	if status == repo.StatusError {
		return "error body"
	}
	return "payload"
}

// CeilUTC rounds t up to a multiple of unit, in UTC. A column of precision unit holds values
// that are multiples of unit, so "column < t" and "column < CeilUTC(t, unit)" select the same
// rows, while a driver that truncates t to the column's precision would lose the rows equal
// to the truncated value.
func CeilUTC(t time.Time, unit time.Duration) time.Time {
	t = t.UTC()
	if r := t.Truncate(unit); !r.Equal(t) {
		return r.Add(unit)
	}
	return t
}

// maxAttempts bounds the retries of Transition and Upsert. A retry happens only when another
// writer deletes or recreates the same row between two statements.
const maxAttempts = 5

// Transition runs a guarded update (UPDATE ... WHERE correlation_id = ? AND status =
// 'PENDING') and, when it changed no row, looks the row up to tell AlreadyFinished from
// NotFound. A row that is PENDING at the lookup was created after the update ran; the update
// is retried then.
func Transition(ctx context.Context, update func(context.Context) (int64, error),
	lookup func(context.Context) (repo.Status, bool, error)) (repo.Outcome, error) {
	for range maxAttempts {
		n, err := update(ctx)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return repo.Transitioned, nil
		}
		st, found, err := lookup(ctx)
		if err != nil {
			return 0, err
		}
		if !found {
			return repo.NotFound, nil
		}
		if st.Finished() {
			return repo.AlreadyFinished, nil
		}
	}
	return 0, errors.New("the row stayed PENDING while the guarded update matched nothing; is another writer recreating it?")
}

// Upsert runs Create's upsert, which returns the row when it inserted or refreshed it, and
// otherwise (the row is finished) reads the row. When the read finds nothing the row was
// deleted in between, and the upsert runs again.
func Upsert(ctx context.Context, upsert func(context.Context) (repo.Record, bool, error),
	find func(context.Context) (repo.Record, error)) (repo.Record, error) {
	for range maxAttempts {
		rec, ok, err := upsert(ctx)
		if err != nil {
			return repo.Record{}, err
		}
		if ok {
			return rec, nil
		}
		rec, err = find(ctx)
		if errors.Is(err, repo.ErrNotFound) {
			continue
		}
		return rec, err
	}
	return repo.Record{}, errors.New("the row kept disappearing between the upsert and the read")
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
