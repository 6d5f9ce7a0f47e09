// Package repotest is the conformance suite of repo.Store: every dialect (sqlite, postgres,
// mssql) runs Run unchanged against a real database, so the dialects cannot drift apart.
//
// The suite is one Run, split into files by area: create.go (Create and the guarded
// transitions), finished.go (InsertFinished), find.go (Find, List, Delete, PendingCount,
// Ping), statuses.go (batched reads and their chunking), retention.go, clearowned.go,
// badinput.go, races.go, ids.go (ids that differ only in letter case), start.go (the start
// protocol) and heartbeats.go.
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

func sameRecord(a, b repo.Record) bool {
	return a.CorrelationID == b.CorrelationID && a.Status == b.Status && sameJSON(a.Payload, b.Payload) &&
		sameJSON(a.Error, b.Error) && a.Owner == b.Owner && a.StartedAt.Equal(b.StartedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}
