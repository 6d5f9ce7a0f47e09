// Package repotest is the conformance suite of repo.Store: every dialect (sqlite, postgres,
// mssql) runs Run unchanged against a real database, so the dialects cannot drift apart.
//
// The suite never sleeps. Where a rule involves time (cutoffs, updated_at moving forward) it
// reads the database's own timestamps back and derives its cutoffs from them.
package repotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// NewStore returns a store owned by owner on the database the whole run shares (migrated; it
// may hold rows of earlier tests) with default Options otherwise (MaxBodyBytes 0), and closes
// it when t ends. Calling Close earlier must be harmless.
type NewStore func(t *testing.T, owner string) repo.Store

// Run runs the suite. Tests that change or count rows across the whole table
// (PendingCount, the retention operations) run first, one at a time; the others run in
// parallel afterwards, each on ids of its own. Nothing else may use the database meanwhile.
func Run(t *testing.T, newStore NewStore) {
	s := &suite{newStore: newStore, run: token()}

	// Whole-table tests, serial, before the parallel ones start.
	t.Run("PendingCount", s.testPendingCount)
	t.Run("DeleteFinishedBefore", s.testDeleteFinishedBefore)
	t.Run("DeleteFinishedBeforeConcurrent", s.testDeleteFinishedBeforeConcurrent)
	t.Run("ExpirePendingBefore", s.testExpirePendingBefore)
	t.Run("ExpirePendingBeforeConcurrent", s.testExpirePendingBeforeConcurrent)

	for _, tc := range append([]struct {
		name string
		f    func(*testing.T)
	}{
		{"Create", s.testCreate},
		{"CreateNeverResetsFinished", s.testCreateNeverResetsFinished},
		{"CompleteFail", s.testCompleteFail},
		{"InsertFinished", s.testInsertFinished},
		{"Find", s.testFind},
		{"Statuses", s.testStatuses},
		{"StatusesChunked", s.testStatusesChunked},
		{"List", s.testList},
		{"ListOptions", s.testListOptions},
		{"Delete", s.testDelete},
		{"ClearOwned", s.testClearOwned},
		{"UpdatedAtMovesForward", s.testUpdatedAtMovesForward},
		{"BadInputWritesNothing", s.testBadInputWritesNothing},
		{"BadInputBeforeDatabase", s.testBadInputBeforeDatabase},
		{"RaceCompleteFail", s.testRaceCompleteFail},
		{"RaceCreate", s.testRaceCreate},
		{"RaceCreateComplete", s.testRaceCreateComplete},
		{"Ping", s.testPing},
		{"MixedCaseIDs", s.testMixedCaseIDs},
	}, s.startTests()...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t)
		})
	}
}

type suite struct {
	newStore NewStore
	run      string // random per Run, so reruns on one database never reuse an id
	seq      atomic.Int64
}

func token() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// id returns a fresh correlation id; tag says which test made it.
func (s *suite) id(tag string) string {
	return fmt.Sprintf("rt.%s.%s.%d", s.run, tag, s.seq.Add(1))
}

// owner returns a fresh owner id.
func (s *suite) owner(tag string) string {
	return fmt.Sprintf("own.%s.%s.%d", s.run, tag, s.seq.Add(1))
}

// store returns a store with a fresh owner, and the owner.
func (s *suite) store(t *testing.T, tag string) (repo.Store, string) {
	t.Helper()
	owner := s.owner(tag)
	return s.newStore(t, owner), owner
}

// farFuture is a cutoff later than any row's timestamps, whatever the database clock says.
var farFuture = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// tick is more than the coarsest timestamp precision of the dialects (SQLite and SQL Server
// store milliseconds), so t.Add(tick) is after t in every dialect.
const tick = time.Millisecond

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func body(format string, args ...any) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(format, args...))
}

// --- helpers that fail the test on error ---

func mustCreate(t *testing.T, st repo.Store, id string) repo.Record {
	t.Helper()
	rec, err := st.Create(ctx(t), id)
	if err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
	return rec
}

func mustFind(t *testing.T, st repo.Store, id string) repo.Record {
	t.Helper()
	rec, err := st.Find(ctx(t), id)
	if err != nil {
		t.Fatalf("Find(%s): %v", id, err)
	}
	return rec
}

func mustNotFind(t *testing.T, st repo.Store, id string) {
	t.Helper()
	rec, err := st.Find(ctx(t), id)
	if !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("Find(%s) = %+v, %v; want ErrNotFound", id, rec, err)
	}
}

func mustComplete(t *testing.T, st repo.Store, id string, payload json.RawMessage, want repo.Outcome) {
	t.Helper()
	got, err := st.Complete(ctx(t), id, payload)
	if err != nil {
		t.Fatalf("Complete(%s): %v", id, err)
	}
	if got != want {
		t.Fatalf("Complete(%s) = %v, want %v", id, got, want)
	}
}

func mustFail(t *testing.T, st repo.Store, id string, errBody json.RawMessage, want repo.Outcome) {
	t.Helper()
	got, err := st.Fail(ctx(t), id, errBody)
	if err != nil {
		t.Fatalf("Fail(%s): %v", id, err)
	}
	if got != want {
		t.Fatalf("Fail(%s) = %v, want %v", id, got, want)
	}
}

func mustInsertFinished(t *testing.T, st repo.Store, id string, status repo.Status, b json.RawMessage, want bool) {
	t.Helper()
	got, err := st.InsertFinished(ctx(t), id, status, b)
	if err != nil {
		t.Fatalf("InsertFinished(%s, %s): %v", id, status, err)
	}
	if got != want {
		t.Fatalf("InsertFinished(%s, %s) = %v, want %v", id, status, got, want)
	}
}

// checkRecord compares the fields a test controls.
func checkRecord(t *testing.T, got repo.Record, id string, status repo.Status, payload, errBody json.RawMessage, owner string) {
	t.Helper()
	if got.CorrelationID != id {
		t.Errorf("CorrelationID = %q, want %q", got.CorrelationID, id)
	}
	if got.Status != status {
		t.Errorf("%s: Status = %q, want %q", id, got.Status, status)
	}
	if !sameJSON(got.Payload, payload) {
		t.Errorf("%s: Payload = %q, want %q", id, got.Payload, payload)
	}
	if !sameJSON(got.Error, errBody) {
		t.Errorf("%s: Error = %q, want %q", id, got.Error, errBody)
	}
	if got.Owner != owner {
		t.Errorf("%s: Owner = %q, want %q", id, got.Owner, owner)
	}
	checkTimes(t, got)
}

// sameJSON compares bodies byte for byte (stores must not reformat them); nil means NULL.
func sameJSON(got, want json.RawMessage) bool {
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	return bytes.Equal(got, want)
}

func checkTimes(t *testing.T, rec repo.Record) {
	t.Helper()
	for name, ts := range map[string]time.Time{"StartedAt": rec.StartedAt, "UpdatedAt": rec.UpdatedAt} {
		if ts.IsZero() {
			t.Errorf("%s: %s is zero", rec.CorrelationID, name)
		}
		if ts.Location() != time.UTC {
			t.Errorf("%s: %s is in %v, want UTC", rec.CorrelationID, name, ts.Location())
		}
	}
	if rec.UpdatedAt.Before(rec.StartedAt) {
		t.Errorf("%s: UpdatedAt %v before StartedAt %v", rec.CorrelationID, rec.UpdatedAt, rec.StartedAt)
	}
}

func statusesByID(t *testing.T, st repo.Store, ids []string) map[string]repo.Record {
	t.Helper()
	recs, err := st.Statuses(ctx(t), ids)
	if err != nil {
		t.Fatalf("Statuses(%d ids): %v", len(ids), err)
	}
	out := make(map[string]repo.Record, len(recs))
	for _, r := range recs {
		if _, dup := out[r.CorrelationID]; dup {
			t.Errorf("Statuses returned %s twice", r.CorrelationID)
		}
		out[r.CorrelationID] = r
	}
	return out
}

// --- whole-table tests (serial) ---

func (s *suite) testPendingCount(t *testing.T) {
	st, _ := s.store(t, "count")
	count := func() int64 {
		t.Helper()
		n, err := st.PendingCount(ctx(t))
		if err != nil {
			t.Fatalf("PendingCount: %v", err)
		}
		return n
	}
	base := count()
	ids := []string{s.id("count"), s.id("count"), s.id("count"), s.id("count")}
	for _, id := range ids {
		mustCreate(t, st, id)
	}
	// Another owner's rows count too.
	other, _ := s.store(t, "count")
	mustCreate(t, other, s.id("count"))
	if got := count(); got != base+5 {
		t.Fatalf("PendingCount after 5 creates = %d, want %d", got, base+5)
	}
	mustComplete(t, st, ids[0], body(`{"ok":true}`), repo.Transitioned)
	mustFail(t, st, ids[1], body(`{"err":"x"}`), repo.Transitioned)
	mustInsertFinished(t, st, s.id("count"), repo.StatusDone, body(`1`), true)
	if ok, err := st.Delete(ctx(t), ids[2]); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if got := count(); got != base+2 {
		t.Fatalf("PendingCount after complete, fail, delete = %d, want %d", got, base+2)
	}
}

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

func (s *suite) testCreate(t *testing.T) {
	a, ownerA := s.store(t, "create")
	b, ownerB := s.store(t, "create")
	id := s.id("create")

	r0 := mustCreate(t, a, id)
	checkRecord(t, r0, id, repo.StatusPending, nil, nil, ownerA)
	if got := mustFind(t, a, id); !sameRecord(got, r0) {
		t.Fatalf("Find = %+v, want Create's %+v", got, r0)
	}

	// A repeat refreshes updated_at and keeps started_at.
	r1 := mustCreate(t, a, id)
	checkRecord(t, r1, id, repo.StatusPending, nil, nil, ownerA)
	if !r1.UpdatedAt.After(r0.UpdatedAt) || !r1.StartedAt.Equal(r0.StartedAt) {
		t.Fatalf("refresh: updated_at %v -> %v, started_at %v -> %v", r0.UpdatedAt, r1.UpdatedAt, r0.StartedAt, r1.StartedAt)
	}

	// Another instance registering the same id takes it over.
	r2 := mustCreate(t, b, id)
	checkRecord(t, r2, id, repo.StatusPending, nil, nil, ownerB)
	if !r2.UpdatedAt.After(r1.UpdatedAt) || !r2.StartedAt.Equal(r0.StartedAt) {
		t.Fatalf("takeover: updated_at %v -> %v, started_at %v -> %v", r1.UpdatedAt, r2.UpdatedAt, r0.StartedAt, r2.StartedAt)
	}
	if got := mustFind(t, a, id); !sameRecord(got, r2) {
		t.Fatalf("Find = %+v, want %+v", got, r2)
	}
}

func sameRecord(a, b repo.Record) bool {
	return a.CorrelationID == b.CorrelationID && a.Status == b.Status && sameJSON(a.Payload, b.Payload) &&
		sameJSON(a.Error, b.Error) && a.Owner == b.Owner && a.StartedAt.Equal(b.StartedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func (s *suite) testCreateNeverResetsFinished(t *testing.T) {
	a, ownerA := s.store(t, "reset")
	b, _ := s.store(t, "reset")

	for _, tc := range []struct {
		name string
		// finish takes the subtest's t: a failure must stop the subtest, not call FailNow
		// on the parent from inside it.
		finish func(t *testing.T, id string)
		status repo.Status
		pay    json.RawMessage
		errB   json.RawMessage
		owner  string
	}{
		{"completed", func(t *testing.T, id string) {
			mustCreate(t, a, id)
			mustComplete(t, a, id, body(`{"r":1}`), repo.Transitioned)
		}, repo.StatusDone, body(`{"r":1}`), nil, ownerA},
		{"failed", func(t *testing.T, id string) {
			mustCreate(t, a, id)
			mustFail(t, a, id, body(`{"e":1}`), repo.Transitioned)
		}, repo.StatusError, nil, body(`{"e":1}`), ownerA},
		{"inserted done", func(t *testing.T, id string) {
			mustInsertFinished(t, a, id, repo.StatusDone, body(`[1]`), true)
		}, repo.StatusDone, body(`[1]`), nil, ""},
		{"inserted error", func(t *testing.T, id string) {
			mustInsertFinished(t, a, id, repo.StatusError, body(`"x"`), true)
		}, repo.StatusError, nil, body(`"x"`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := s.id("reset")
			tc.finish(t, id)
			before := mustFind(t, a, id)
			for _, st := range []repo.Store{a, b} {
				rec := mustCreate(t, st, id)
				checkRecord(t, rec, id, tc.status, tc.pay, tc.errB, tc.owner)
				if !sameRecord(rec, before) {
					t.Fatalf("Create on a finished row changed it: %+v -> %+v", before, rec)
				}
			}
			if got := mustFind(t, a, id); !sameRecord(got, before) {
				t.Fatalf("row changed: %+v -> %+v", before, got)
			}
		})
	}
}

func (s *suite) testCompleteFail(t *testing.T) {
	st, owner := s.store(t, "cf")
	// Bodies are stored byte for byte: spacing, key order, non-ASCII text.
	payload := body(`{ "z": [1, 2.50], "a": "é ☃ \u00e9", "n": null }`)
	errBody := body(`{"code":"E42","detail":"日本語"}`)

	done := s.id("cf")
	mustCreate(t, st, done)
	mustComplete(t, st, done, payload, repo.Transitioned)
	checkRecord(t, mustFind(t, st, done), done, repo.StatusDone, payload, nil, owner)
	mustComplete(t, st, done, body(`{"second":true}`), repo.AlreadyFinished)
	mustFail(t, st, done, body(`{"late":true}`), repo.AlreadyFinished)
	checkRecord(t, mustFind(t, st, done), done, repo.StatusDone, payload, nil, owner)

	failed := s.id("cf")
	mustCreate(t, st, failed)
	mustFail(t, st, failed, errBody, repo.Transitioned)
	checkRecord(t, mustFind(t, st, failed), failed, repo.StatusError, nil, errBody, owner)
	mustFail(t, st, failed, body(`{"second":true}`), repo.AlreadyFinished)
	mustComplete(t, st, failed, body(`{"late":true}`), repo.AlreadyFinished)
	checkRecord(t, mustFind(t, st, failed), failed, repo.StatusError, nil, errBody, owner)

	missing := s.id("cf")
	mustComplete(t, st, missing, payload, repo.NotFound)
	mustFail(t, st, missing, errBody, repo.NotFound)
	mustNotFind(t, st, missing)

	// A store completes rows of any owner: the worker is rarely the registering instance.
	other, _ := s.store(t, "cf")
	foreign := s.id("cf")
	mustCreate(t, other, foreign)
	mustComplete(t, st, foreign, payload, repo.Transitioned)

	for o, want := range map[repo.Outcome]string{repo.Transitioned: "transitioned", repo.AlreadyFinished: "already_finished", repo.NotFound: "not_found", 0: "unknown"} {
		if o.String() != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, o.String(), want)
		}
	}
}

func (s *suite) testInsertFinished(t *testing.T) {
	st, owner := s.store(t, "ins")

	done := s.id("ins")
	mustInsertFinished(t, st, done, repo.StatusDone, body(`{"result":1}`), true)
	checkRecord(t, mustFind(t, st, done), done, repo.StatusDone, body(`{"result":1}`), nil, "")
	mustInsertFinished(t, st, done, repo.StatusError, body(`{"other":1}`), false)
	checkRecord(t, mustFind(t, st, done), done, repo.StatusDone, body(`{"result":1}`), nil, "")
	// A late Complete finds it finished.
	mustComplete(t, st, done, body(`{}`), repo.AlreadyFinished)

	failed := s.id("ins")
	mustInsertFinished(t, st, failed, repo.StatusError, body(`{"error":"boom"}`), true)
	checkRecord(t, mustFind(t, st, failed), failed, repo.StatusError, nil, body(`{"error":"boom"}`), "")

	// An existing PENDING row is left alone: the guarded Complete is the way to finish it.
	pending := s.id("ins")
	mustCreate(t, st, pending)
	mustInsertFinished(t, st, pending, repo.StatusDone, body(`{}`), false)
	checkRecord(t, mustFind(t, st, pending), pending, repo.StatusPending, nil, nil, owner)

	for _, bad := range []repo.Status{repo.StatusPending, "", "done", "BOGUS"} {
		id := s.id("ins")
		ok, err := st.InsertFinished(ctx(t), id, bad, body(`{}`))
		if !errors.Is(err, repo.ErrInvalidArgument) || ok {
			t.Errorf("InsertFinished(status %q) = %v, %v; want ErrInvalidArgument", bad, ok, err)
		}
		mustNotFind(t, st, id)
	}
}

func (s *suite) testFind(t *testing.T) {
	st, _ := s.store(t, "find")
	mustNotFind(t, st, s.id("find"))
	_, err := st.Find(ctx(t), s.id("find"))
	if err == nil || !strings.Contains(err.Error(), "rt.") {
		t.Errorf("Find error %q should name the id", err)
	}
}

func (s *suite) testStatuses(t *testing.T) {
	st, owner := s.store(t, "stat")
	pending, done, failed := s.id("stat"), s.id("stat"), s.id("stat")
	mustCreate(t, st, pending)
	mustInsertFinished(t, st, done, repo.StatusDone, body(`{"d":1}`), true)
	mustCreate(t, st, failed)
	mustFail(t, st, failed, body(`{"f":1}`), repo.Transitioned)

	ids := []string{s.id("stat"), pending, done, s.id("stat"), failed, done, pending}
	got := statusesByID(t, st, ids)
	if len(got) != 3 {
		t.Fatalf("Statuses returned %d rows, want 3: %v", len(got), got)
	}
	checkRecord(t, got[pending], pending, repo.StatusPending, nil, nil, owner)
	checkRecord(t, got[done], done, repo.StatusDone, body(`{"d":1}`), nil, "")
	checkRecord(t, got[failed], failed, repo.StatusError, nil, body(`{"f":1}`), owner)

	for _, ids := range [][]string{nil, {}, {s.id("stat")}} {
		recs, err := st.Statuses(ctx(t), ids)
		if err != nil || len(recs) != 0 {
			t.Errorf("Statuses(%v) = %v, %v; want none", ids, recs, err)
		}
	}
}

func (s *suite) testStatusesChunked(t *testing.T) {
	st, _ := s.store(t, "chunk")
	n := 2*repo.StatusesChunkSize + 1
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.id("chunk")
	}
	// Rows at both edges of every chunk, and in the middle; the rest are missing.
	c := repo.StatusesChunkSize
	want := map[string]bool{}
	for _, i := range []int{0, 1, c / 2, c - 1, c, c + 1, 2*c - 1, 2 * c} {
		mustCreate(t, st, ids[i])
		want[ids[i]] = true
	}
	got := statusesByID(t, st, ids)
	if len(got) != len(want) {
		t.Fatalf("Statuses(%d ids) returned %d rows, want %d", n, len(got), len(want))
	}
	for id := range want {
		if got[id].Status != repo.StatusPending {
			t.Errorf("%s: got %+v", id, got[id])
		}
	}
}

func (s *suite) testList(t *testing.T) {
	st, _ := s.store(t, "list")
	mine := map[string]repo.Status{}
	for i := range 14 {
		id := s.id("list")
		mustCreate(t, st, id)
		status := repo.StatusPending
		switch i % 3 {
		case 1:
			mustComplete(t, st, id, body(`{"i":%d}`, i), repo.Transitioned)
			status = repo.StatusDone
		case 2:
			mustFail(t, st, id, body(`{"i":%d}`, i), repo.Transitioned)
			status = repo.StatusError
		}
		mine[id] = status
	}
	for _, filter := range []repo.Status{"", repo.StatusPending, repo.StatusDone, repo.StatusError} {
		t.Run("status="+string(filter), func(t *testing.T) {
			seen := map[string]int{}
			for _, rec := range listAll(t, st, filter, 5) {
				if filter != "" && rec.Status != filter {
					t.Errorf("%s has status %s under filter %s", rec.CorrelationID, rec.Status, filter)
				}
				if _, ok := mine[rec.CorrelationID]; ok {
					seen[rec.CorrelationID]++
				}
			}
			for id, status := range mine {
				want := 0
				if filter == "" || filter == status {
					want = 1
				}
				if seen[id] != want {
					t.Errorf("%s (%s) listed %d times under filter %q, want %d", id, status, seen[id], filter, want)
				}
			}
		})
	}
}

// listAll pages through the whole table and checks the keyset order: ids strictly increase
// within and across pages, and only the last page returns no cursor.
func listAll(t *testing.T, st repo.Store, filter repo.Status, limit int) []repo.Record {
	t.Helper()
	var all []repo.Record
	after := ""
	for page := 0; ; page++ {
		if page > 1_000_000 {
			t.Fatal("List never ended")
		}
		recs, next, err := st.List(ctx(t), repo.ListOptions{Status: filter, After: after, Limit: limit})
		if err != nil {
			t.Fatalf("List(after %q): %v", after, err)
		}
		if len(recs) > limit {
			t.Fatalf("List returned %d rows, limit %d", len(recs), limit)
		}
		// Keyset order: ids strictly increase, within a page and from the cursor on. (SQL
		// Server orders by its column collation; ids of lower-case letters, digits and dots
		// sort like bytes in every common collation, but ids with capitals, which only
		// testMixedCaseIDs makes, need not: for those the order is the dialect's, and only
		// repeats are checked.)
		prev := after
		for _, r := range recs {
			if r.CorrelationID == prev || (!hasUpper(r.CorrelationID) && !hasUpper(prev) && !(r.CorrelationID > prev)) {
				t.Fatalf("List returned %q after %q", r.CorrelationID, prev)
			}
			prev = r.CorrelationID
		}
		all = append(all, recs...)
		if next == "" {
			return all
		}
		if len(recs) != limit || next != recs[len(recs)-1].CorrelationID {
			t.Fatalf("List returned %d rows and cursor %q; want a full page ending at the cursor", len(recs), next)
		}
		after = next
	}
}

func (s *suite) testListOptions(t *testing.T) {
	st, _ := s.store(t, "lopt")
	for range 3 {
		mustCreate(t, st, s.id("lopt"))
	}
	recs, _, err := st.List(ctx(t), repo.ListOptions{})
	if err != nil || len(recs) == 0 || len(recs) > repo.DefaultListLimit {
		t.Fatalf("List(default limit) = %d rows, %v", len(recs), err)
	}
	if _, _, err := st.List(ctx(t), repo.ListOptions{Limit: repo.MaxListLimit}); err != nil {
		t.Fatalf("List(MaxListLimit): %v", err)
	}
	recs, _, err = st.List(ctx(t), repo.ListOptions{Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("List(limit 1) = %d rows, %v", len(recs), err)
	}
}

func (s *suite) testDelete(t *testing.T) {
	st, _ := s.store(t, "delete")
	for _, finish := range []bool{false, true} {
		id := s.id("delete")
		mustCreate(t, st, id)
		if finish {
			mustComplete(t, st, id, body(`{}`), repo.Transitioned)
		}
		if ok, err := st.Delete(ctx(t), id); err != nil || !ok {
			t.Fatalf("Delete(%s) = %v, %v; want true", id, ok, err)
		}
		if ok, err := st.Delete(ctx(t), id); err != nil || ok {
			t.Fatalf("second Delete(%s) = %v, %v; want false", id, ok, err)
		}
		mustNotFind(t, st, id)
		mustComplete(t, st, id, body(`{}`), repo.NotFound)
	}
}

func (s *suite) testClearOwned(t *testing.T) {
	a, ownerA := s.store(t, "clear")
	b, ownerB := s.store(t, "clear")
	var aPending, bPending []string
	for range 3 {
		id := s.id("clear")
		mustCreate(t, a, id)
		aPending = append(aPending, id)
	}
	bOnly := s.id("clear")
	mustCreate(t, b, bOnly)
	bPending = append(bPending, bOnly)
	aDone := s.id("clear")
	mustCreate(t, a, aDone)
	mustComplete(t, a, aDone, body(`{"done":1}`), repo.Transitioned)
	takenOver := s.id("clear") // registered by a, then by b: b owns it now
	mustCreate(t, a, takenOver)
	mustCreate(t, b, takenOver)
	bPending = append(bPending, takenOver)

	before := map[string]repo.Record{}
	for _, id := range aPending {
		before[id] = mustFind(t, a, id)
	}
	errBody := body(`{"error":"instance stopped"}`)
	n, err := a.ClearOwned(ctx(t), errBody)
	if err != nil || n != int64(len(aPending)) {
		t.Fatalf("a.ClearOwned = %d, %v; want %d", n, err, len(aPending))
	}
	for _, id := range aPending {
		rec := mustFind(t, a, id)
		checkRecord(t, rec, id, repo.StatusError, nil, errBody, ownerA)
		if !rec.UpdatedAt.After(before[id].UpdatedAt) {
			t.Errorf("%s: ClearOwned did not move updated_at", id)
		}
	}
	checkRecord(t, mustFind(t, a, aDone), aDone, repo.StatusDone, body(`{"done":1}`), nil, ownerA)
	for _, id := range bPending {
		checkRecord(t, mustFind(t, a, id), id, repo.StatusPending, nil, nil, ownerB)
	}
	if n, err := a.ClearOwned(ctx(t), errBody); err != nil || n != 0 {
		t.Fatalf("second a.ClearOwned = %d, %v; want 0", n, err)
	}
	if n, err := b.ClearOwned(ctx(t), errBody); err != nil || n != int64(len(bPending)) {
		t.Fatalf("b.ClearOwned = %d, %v; want %d", n, err, len(bPending))
	}
	for _, id := range bPending {
		checkRecord(t, mustFind(t, a, id), id, repo.StatusError, nil, errBody, ownerB)
	}
}

func (s *suite) testUpdatedAtMovesForward(t *testing.T) {
	st, _ := s.store(t, "fwd")
	for _, fail := range []bool{false, true} {
		id := s.id("fwd")
		prev := mustCreate(t, st, id)
		for range 3 { // repeats within one clock tick still move it
			rec := mustCreate(t, st, id)
			if !rec.UpdatedAt.After(prev.UpdatedAt) {
				t.Fatalf("refresh: updated_at %v -> %v", prev.UpdatedAt, rec.UpdatedAt)
			}
			prev = rec
		}
		if fail {
			mustFail(t, st, id, body(`{}`), repo.Transitioned)
		} else {
			mustComplete(t, st, id, body(`{}`), repo.Transitioned)
		}
		rec := mustFind(t, st, id)
		if !rec.UpdatedAt.After(prev.UpdatedAt) {
			t.Fatalf("transition: updated_at %v -> %v", prev.UpdatedAt, rec.UpdatedAt)
		}
		if !rec.StartedAt.Equal(prev.StartedAt) {
			t.Fatalf("transition changed started_at %v -> %v", prev.StartedAt, rec.StartedAt)
		}
	}
}

// badIDs break the id rule in every way it can be broken.
var badIDs = []string{"", strings.Repeat("x", 65), "has space", "slash/id", "é", "semi;colon", "quote'd"}

// badBodies are invalid payloads and the sentinel each must produce.
func badBodies() []struct {
	name string
	body json.RawMessage
	want error
} {
	return []struct {
		name string
		body json.RawMessage
		want error
	}{
		{"empty", nil, repo.ErrInvalidJSON},
		{"truncated", body(`{"a":`), repo.ErrInvalidJSON},
		{"not json", body(`hello`), repo.ErrInvalidJSON},
		{"too large", json.RawMessage(`"` + strings.Repeat("a", repo.DefaultMaxBodyBytes) + `"`), repo.ErrTooLarge},
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// badInputCalls returns every call with a bad argument and the sentinel it must return.
func (s *suite) badInputCalls(st repo.Store, goodID string) []struct {
	name string
	call func(context.Context) error
	want error
} {
	type call = struct {
		name string
		call func(context.Context) error
		want error
	}
	var calls []call
	ok := body(`{}`)
	for _, bad := range badIDs {
		calls = append(calls,
			call{"Create " + bad, func(c context.Context) error { _, err := st.Create(c, bad); return err }, repo.ErrInvalidID},
			call{"Complete " + bad, func(c context.Context) error { _, err := st.Complete(c, bad, ok); return err }, repo.ErrInvalidID},
			call{"Fail " + bad, func(c context.Context) error { _, err := st.Fail(c, bad, ok); return err }, repo.ErrInvalidID},
			call{"InsertFinished " + bad, func(c context.Context) error {
				_, err := st.InsertFinished(c, bad, repo.StatusDone, ok)
				return err
			}, repo.ErrInvalidID},
			call{"Find " + bad, func(c context.Context) error { _, err := st.Find(c, bad); return err }, repo.ErrInvalidID},
			call{"Delete " + bad, func(c context.Context) error { _, err := st.Delete(c, bad); return err }, repo.ErrInvalidID},
			call{"Statuses " + bad, func(c context.Context) error {
				_, err := st.Statuses(c, []string{goodID, bad})
				return err
			}, repo.ErrInvalidID},
		)
		if bad != "" { // "" is the first page, not a bad cursor
			calls = append(calls, call{"List after " + bad, func(c context.Context) error {
				_, _, err := st.List(c, repo.ListOptions{After: bad})
				return err
			}, repo.ErrInvalidID})
		}
	}
	for _, bb := range badBodies() {
		calls = append(calls,
			call{"Complete body " + bb.name, func(c context.Context) error { _, err := st.Complete(c, goodID, bb.body); return err }, bb.want},
			call{"Fail body " + bb.name, func(c context.Context) error { _, err := st.Fail(c, goodID, bb.body); return err }, bb.want},
			call{"InsertFinished body " + bb.name, func(c context.Context) error {
				_, err := st.InsertFinished(c, goodID, repo.StatusError, bb.body)
				return err
			}, bb.want},
			call{"ClearOwned body " + bb.name, func(c context.Context) error { _, err := st.ClearOwned(c, bb.body); return err }, bb.want},
			call{"ExpirePendingBefore body " + bb.name, func(c context.Context) error {
				_, err := st.ExpirePendingBefore(c, farFuture, 10, bb.body)
				return err
			}, bb.want},
		)
	}
	for _, lim := range []int{-1, repo.MaxListLimit + 1} {
		calls = append(calls, call{fmt.Sprintf("List limit %d", lim), func(c context.Context) error {
			_, _, err := st.List(c, repo.ListOptions{Limit: lim})
			return err
		}, repo.ErrInvalidArgument})
	}
	calls = append(calls,
		call{"List status", func(c context.Context) error {
			_, _, err := st.List(c, repo.ListOptions{Status: "pending"})
			return err
		}, repo.ErrInvalidArgument},
		call{"InsertFinished PENDING", func(c context.Context) error {
			_, err := st.InsertFinished(c, goodID, repo.StatusPending, ok)
			return err
		}, repo.ErrInvalidArgument},
	)
	for _, batch := range []int{0, -1} {
		calls = append(calls,
			call{fmt.Sprintf("DeleteFinishedBefore batch %d", batch), func(c context.Context) error {
				_, err := st.DeleteFinishedBefore(c, farFuture, batch)
				return err
			}, repo.ErrInvalidArgument},
			call{fmt.Sprintf("ExpirePendingBefore batch %d", batch), func(c context.Context) error {
				_, err := st.ExpirePendingBefore(c, farFuture, batch, ok)
				return err
			}, repo.ErrInvalidArgument},
		)
	}
	return calls
}

// testBadInputWritesNothing makes the bad calls on a live store and checks that the rows they
// name are unchanged.
func (s *suite) testBadInputWritesNothing(t *testing.T) {
	st, _ := s.store(t, "bad")
	pending := s.id("bad")
	before := mustCreate(t, st, pending)
	absent := s.id("bad")

	for _, c := range s.badInputCalls(st, pending) {
		wantErr(t, c.name, c.call(ctx(t)), c.want)
	}
	// The same calls aimed at an id without a row must not create it.
	for _, c := range s.badInputCalls(st, absent) {
		wantErr(t, c.name+" (absent id)", c.call(ctx(t)), c.want)
	}
	if got := mustFind(t, st, pending); !sameRecord(got, before) {
		t.Fatalf("bad calls changed %s: %+v -> %+v", pending, before, got)
	}
	mustNotFind(t, st, absent)

	// The errors say what is wrong.
	_, err := st.Complete(ctx(t), pending, body(`{"a":`))
	if err == nil || !strings.Contains(err.Error(), "payload") {
		t.Errorf("Complete error %q should name the payload", err)
	}
	_, err = st.Fail(ctx(t), pending, badBodies()[3].body)
	if err == nil || !strings.Contains(err.Error(), "store.maxBodyBytes") || !strings.Contains(err.Error(), "error body") {
		t.Errorf("Fail error %q should name the error body and store.maxBodyBytes", err)
	}
}

// testBadInputBeforeDatabase makes the bad calls on a closed store: each must fail with its
// sentinel, which shows the input is checked before the database is touched.
func (s *suite) testBadInputBeforeDatabase(t *testing.T) {
	st, _ := s.store(t, "closed")
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range s.badInputCalls(st, s.id("closed")) {
		wantErr(t, c.name+" (closed store)", c.call(ctx(t)), c.want)
	}
}

const racers = 50

func (s *suite) testRaceCompleteFail(t *testing.T) {
	a, _ := s.store(t, "race")
	b, _ := s.store(t, "race")
	stores := []repo.Store{a, b}
	id := s.id("race")
	mustCreate(t, stores[0], id)

	type result struct {
		outcome repo.Outcome
		err     error
	}
	results := make([]result, racers)
	bodies := make([]json.RawMessage, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		st := stores[i%len(stores)]
		bodies[i] = body(`{"racer":%d}`, i)
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				results[i].outcome, results[i].err = st.Complete(ctx(t), id, bodies[i])
			} else {
				results[i].outcome, results[i].err = st.Fail(ctx(t), id, bodies[i])
			}
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("racer %d: %v", i, r.err)
		case r.outcome == repo.Transitioned:
			if winner >= 0 {
				t.Errorf("racers %d and %d both transitioned", winner, i)
			}
			winner = i
		case r.outcome != repo.AlreadyFinished:
			t.Errorf("racer %d: %v, want AlreadyFinished", i, r.outcome)
		}
	}
	if winner < 0 {
		t.Fatal("no racer transitioned")
	}
	rec := mustFind(t, stores[0], id)
	if winner%2 == 0 {
		checkRecord(t, rec, id, repo.StatusDone, bodies[winner], nil, rec.Owner)
	} else {
		checkRecord(t, rec, id, repo.StatusError, nil, bodies[winner], rec.Owner)
	}
}

func (s *suite) testRaceCreate(t *testing.T) {
	a, ownerA := s.store(t, "racec")
	b, ownerB := s.store(t, "racec")
	stores := []repo.Store{a, b}
	owners := map[string]bool{ownerA: true, ownerB: true}
	id := s.id("racec")
	errs := make([]error, racers)
	recs := make([]repo.Record, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			recs[i], errs[i] = stores[i%2].Create(ctx(t), id)
		})
	}
	close(start)
	wg.Wait()
	for i := range racers {
		if errs[i] != nil {
			t.Errorf("Create %d: %v", i, errs[i])
			continue
		}
		if recs[i].Status != repo.StatusPending || recs[i].CorrelationID != id {
			t.Errorf("Create %d returned %+v", i, recs[i])
		}
	}
	if got := statusesByID(t, stores[0], []string{id}); len(got) != 1 || !owners[got[id].Owner] {
		t.Fatalf("after %d concurrent creates: %+v", racers, got)
	}
}

// testRaceCreateComplete registers a wait over and over while it completes. Each registering
// goroutine stops when Create returns the finished row, so its last Create ran after the
// Complete committed: a store that reset finished rows to PENDING would never get there.
func (s *suite) testRaceCreateComplete(t *testing.T) {
	a, _ := s.store(t, "racecc")
	b, _ := s.store(t, "racecc")
	stores := []repo.Store{a, b}
	id := s.id("racecc")
	mustCreate(t, stores[0], id)
	payload := body(`{"final":true}`)
	const maxCreates = 1000
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, racers)
	for i := range racers - 1 {
		wg.Go(func() {
			<-start
			for range maxCreates {
				rec, err := stores[i%2].Create(ctx(t), id)
				if err != nil {
					errs <- err
					return
				}
				if rec.Status.Finished() {
					if rec.Status != repo.StatusDone || !sameJSON(rec.Payload, payload) {
						errs <- fmt.Errorf("racing create returned %+v", rec)
					}
					return
				}
			}
			errs <- fmt.Errorf("%d Creates never returned the completed row", maxCreates)
		})
	}
	wg.Go(func() {
		<-start
		out, err := stores[1].Complete(ctx(t), id, payload)
		if err == nil && out != repo.Transitioned {
			err = fmt.Errorf("racing complete = %v, want Transitioned", out)
		}
		if err != nil {
			errs <- err
		}
	})
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rec := mustFind(t, stores[0], id)
	checkRecord(t, rec, id, repo.StatusDone, payload, nil, rec.Owner)
}

func (s *suite) testPing(t *testing.T) {
	st, _ := s.store(t, "ping")
	if err := st.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
