package repotest

// Retention: DeleteFinishedBefore and ExpirePendingBefore, in bounded batches, alone and
// from several replicas at once. These change rows across the whole table, so Run runs them
// serially, before the parallel tests.

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// drainFinished deletes every finished row, so that a test can count what it deletes.
func drainFinished(t *testing.T, st repo.Store) {
	t.Helper()
	for {
		n, err := st.DeleteFinishedBefore(ctx(t), farFuture, 1000)
		if err != nil {
			t.Fatalf("DeleteFinishedBefore(drain): %v", err)
		}
		if n < 1000 {
			return
		}
	}
}

// drainPending expires every PENDING row, so that a test can count what it expires.
func drainPending(t *testing.T, st repo.Store) {
	t.Helper()
	for {
		n, err := st.ExpirePendingBefore(ctx(t), farFuture, 1000, body(`{"drained":true}`))
		if err != nil {
			t.Fatalf("ExpirePendingBefore(drain): %v", err)
		}
		if n < 1000 {
			return
		}
	}
}

func (s *suite) testDeleteFinishedBefore(t *testing.T) {
	st, _ := s.store(t, "del")
	drainFinished(t, st)

	pending := s.id("del")
	mustCreate(t, st, pending) // older than every finished row below, and never deleted

	var ids []string
	for i := range 3 {
		id := s.id("del")
		mustInsertFinished(t, st, id, repo.StatusDone, body(`{"i":%d}`, i), true)
		ids = append(ids, id)
	}
	c, f := s.id("del"), s.id("del")
	mustCreate(t, st, c)
	mustCreate(t, st, f)
	mustComplete(t, st, c, body(`{}`), repo.Transitioned)
	mustFail(t, st, f, body(`{}`), repo.Transitioned)
	ids = append(ids, c, f)

	oldest, newest := timeRange(t, st, ids, func(r repo.Record) time.Time { return r.UpdatedAt })

	// Strictly before: the oldest row's own updated_at deletes nothing.
	if n, err := st.DeleteFinishedBefore(ctx(t), oldest, 10); err != nil || n != 0 {
		t.Fatalf("DeleteFinishedBefore(oldest) = %d, %v; want 0", n, err)
	}
	cutoff := newest.Add(tick)
	for i, want := range []int64{2, 2, 1, 0} {
		n, err := st.DeleteFinishedBefore(ctx(t), cutoff, 2)
		if err != nil || n != want {
			t.Fatalf("DeleteFinishedBefore(batch 2) call %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	for _, id := range ids {
		mustNotFind(t, st, id)
	}
	if rec := mustFind(t, st, pending); rec.Status != repo.StatusPending {
		t.Fatalf("pending row: %+v", rec)
	}
}

// timeRange returns the smallest and largest of a timestamp of the rows ids.
func timeRange(t *testing.T, st repo.Store, ids []string, field func(repo.Record) time.Time) (lo, hi time.Time) {
	t.Helper()
	for i, id := range ids {
		ts := field(mustFind(t, st, id))
		if i == 0 || ts.Before(lo) {
			lo = ts
		}
		if i == 0 || ts.After(hi) {
			hi = ts
		}
	}
	return lo, hi
}

const retentionWorkers, retentionRows, retentionBatch = 4, 30, 4

func (s *suite) testDeleteFinishedBeforeConcurrent(t *testing.T) {
	stores := make([]repo.Store, retentionWorkers)
	for i := range stores {
		stores[i], _ = s.store(t, "delc")
	}
	drainFinished(t, stores[0])
	var ids []string
	for range retentionRows {
		id := s.id("delc")
		mustInsertFinished(t, stores[0], id, repo.StatusError, body(`{"e":1}`), true)
		ids = append(ids, id)
	}
	_, newest := timeRange(t, stores[0], ids, func(r repo.Record) time.Time { return r.UpdatedAt })
	total := runWorkers(t, stores, func(st repo.Store) (int64, error) {
		return st.DeleteFinishedBefore(ctx(t), newest.Add(tick), retentionBatch)
	})
	if total != retentionRows {
		t.Fatalf("%d concurrent deleters deleted %d rows, want %d", retentionWorkers, total, retentionRows)
	}
	if got := statusesByID(t, stores[0], ids); len(got) != 0 {
		t.Fatalf("%d rows left after the concurrent deletes", len(got))
	}
}

// runWorkers runs op on every store at once, each looping until op returns less than
// retentionBatch (as callers do), and returns the sum of what op returned.
func runWorkers(t *testing.T, stores []repo.Store, op func(repo.Store) (int64, error)) int64 {
	t.Helper()
	var total atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(stores))
	for _, st := range stores {
		wg.Go(func() {
			<-start
			for {
				n, err := op(st)
				if err != nil {
					errs <- err
					return
				}
				total.Add(n)
				if n < retentionBatch {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("worker: %v", err)
	}
	return total.Load()
}

func (s *suite) testExpirePendingBefore(t *testing.T) {
	st, owner := s.store(t, "exp")
	drainPending(t, st)

	// A row registered before the others but finished: expiry never touches it.
	done := s.id("exp")
	mustCreate(t, st, done)
	mustComplete(t, st, done, body(`{"kept":true}`), repo.Transitioned)

	var ids []string
	for range 5 {
		id := s.id("exp")
		mustCreate(t, st, id)
		ids = append(ids, id)
	}
	oldest, newest := timeRange(t, st, ids, func(r repo.Record) time.Time { return r.StartedAt })
	// A refresh moves updated_at but not started_at: expiry measures from registration.
	mustCreate(t, st, ids[0])
	before := map[string]repo.Record{}
	for _, id := range ids {
		before[id] = mustFind(t, st, id)
	}

	errBody := body(`{"error":"expired"}`)
	if n, err := st.ExpirePendingBefore(ctx(t), oldest, 10, errBody); err != nil || n != 0 {
		t.Fatalf("ExpirePendingBefore(oldest) = %d, %v; want 0", n, err)
	}
	cutoff := newest.Add(tick)
	for i, want := range []int64{2, 2, 1, 0} {
		n, err := st.ExpirePendingBefore(ctx(t), cutoff, 2, errBody)
		if err != nil || n != want {
			t.Fatalf("ExpirePendingBefore(batch 2) call %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	for _, id := range ids {
		rec := mustFind(t, st, id)
		checkRecord(t, rec, id, repo.StatusError, nil, errBody, before[id].Owner)
		if !rec.UpdatedAt.After(before[id].UpdatedAt) {
			t.Errorf("%s: expiry left updated_at at %v (was %v)", id, rec.UpdatedAt, before[id].UpdatedAt)
		}
		if !rec.StartedAt.Equal(before[id].StartedAt) {
			t.Errorf("%s: expiry changed started_at", id)
		}
	}
	checkRecord(t, mustFind(t, st, done), done, repo.StatusDone, body(`{"kept":true}`), nil, owner)
}

func (s *suite) testExpirePendingBeforeConcurrent(t *testing.T) {
	stores := make([]repo.Store, retentionWorkers)
	for i := range stores {
		stores[i], _ = s.store(t, "expc")
	}
	drainPending(t, stores[0])
	var ids []string
	for range retentionRows {
		id := s.id("expc")
		mustCreate(t, stores[0], id)
		ids = append(ids, id)
	}
	_, newest := timeRange(t, stores[0], ids, func(r repo.Record) time.Time { return r.StartedAt })
	total := runWorkers(t, stores, func(st repo.Store) (int64, error) {
		return st.ExpirePendingBefore(ctx(t), newest.Add(tick), retentionBatch, body(`{"expired":1}`))
	})
	if total != retentionRows {
		t.Fatalf("%d concurrent expirers expired %d rows, want %d", retentionWorkers, total, retentionRows)
	}
	for id, rec := range statusesByID(t, stores[0], ids) {
		if rec.Status != repo.StatusError {
			t.Errorf("%s: %s after expiry", id, rec.Status)
		}
	}
}

// --- parallel tests ---
