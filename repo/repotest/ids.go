package repotest

import (
	"errors"
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// CaseFolder is implemented by a store whose table may be unable to hold two ids that
// differ only in letter case: a SQL Server table whose correlation_id collation ignores
// case (the mssql store reports it from the collation it read at open). When IDsFoldCase
// says so, the suite expects the second id's Create and InsertFinished to fail with
// repo.ErrIDConflict; otherwise it expects a row of its own. Everything else about the id
// contract is the same for every store.
type CaseFolder interface {
	IDsFoldCase() bool
}

func foldsCase(st repo.Store) bool {
	f, ok := st.(CaseFolder)
	return ok && f.IDsFoldCase()
}

func hasUpper(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
}

// testMixedCaseIDs pins the id contract: ids are compared byte for byte, so two ids that
// differ only in letter case never share a row or a result. Store a registers the lower-case
// id; every call on the upper-case one then acts as on an id without a row; registering it
// gives it a row of its own, or, where the table cannot hold both, ErrIDConflict. Neither
// ever sees the other's result. (The case-varying part follows a unique numeric part, so
// List's ordering check in other tests is not disturbed.)
func (s *suite) testMixedCaseIDs(t *testing.T) {
	a, ownerA := s.store(t, "case")
	b, ownerB := s.store(t, "case")
	base := s.id("case")
	lower, upper, mixed := base+".abc", base+".ABC", base+".aBc"

	before := mustCreate(t, a, lower)
	checkRecord(t, before, lower, repo.StatusPending, nil, nil, ownerA)

	// Until it is registered, the upper-case id has no row, whatever the lower-case one has.
	mustNotFind(t, b, upper)
	mustComplete(t, b, upper, body(`{"from":"B"}`), repo.NotFound)
	mustFail(t, b, upper, body(`{"from":"B"}`), repo.NotFound)
	if ok, err := b.Delete(ctx(t), upper); err != nil || ok {
		t.Fatalf("Delete(%s) = %v, %v; want false", upper, ok, err)
	}
	if got := statusesByID(t, b, []string{upper, mixed}); len(got) != 0 {
		t.Fatalf("Statuses(%s, %s) = %v; want none", upper, mixed, got)
	}
	got := statusesByID(t, b, []string{lower, upper, mixed, lower})
	if len(got) != 1 || !sameRecord(got[lower], before) {
		t.Fatalf("Statuses(lower, upper, mixed, lower) = %v; want only %s, once, unchanged", got, lower)
	}
	if rec := mustFind(t, a, lower); !sameRecord(rec, before) {
		t.Fatalf("calls on %s changed %s: %+v -> %+v", upper, lower, before, rec)
	}

	if foldsCase(b) {
		s.mixedCaseFolded(t, b, lower, upper, before)
		return
	}

	// A byte-exact table: each id has a row and a result of its own.
	recB := mustCreate(t, b, upper)
	checkRecord(t, recB, upper, repo.StatusPending, nil, nil, ownerB)
	if !recB.StartedAt.Equal(recB.UpdatedAt) {
		t.Errorf("Create(%s) refreshed an existing row (started_at %v, updated_at %v); want a new one", upper, recB.StartedAt, recB.UpdatedAt)
	}
	mustInsertFinished(t, a, mixed, repo.StatusDone, body(`{"from":"mixed"}`), true)
	mustComplete(t, a, lower, body(`{"from":"A"}`), repo.Transitioned)
	mustFail(t, b, upper, body(`{"from":"B"}`), repo.Transitioned)

	checkRecord(t, mustFind(t, b, lower), lower, repo.StatusDone, body(`{"from":"A"}`), nil, ownerA)
	checkRecord(t, mustFind(t, a, upper), upper, repo.StatusError, nil, body(`{"from":"B"}`), ownerB)
	checkRecord(t, mustFind(t, a, mixed), mixed, repo.StatusDone, body(`{"from":"mixed"}`), nil, "")
	all := statusesByID(t, a, []string{mixed, upper, lower, upper})
	if len(all) != 3 {
		t.Fatalf("Statuses of three ids returned %d rows: %v", len(all), all)
	}
	for id, rec := range all {
		if rec.CorrelationID != id {
			t.Errorf("Statuses keyed %s returned %s", id, rec.CorrelationID)
		}
	}
	if all[lower].Status != repo.StatusDone || all[upper].Status != repo.StatusError || all[mixed].Status != repo.StatusDone {
		t.Fatalf("Statuses mixed the rows up: %v", all)
	}
	if ok, err := b.Delete(ctx(t), upper); err != nil || !ok {
		t.Fatalf("Delete(%s) = %v, %v; want true", upper, ok, err)
	}
	mustNotFind(t, a, upper)
	checkRecord(t, mustFind(t, a, lower), lower, repo.StatusDone, body(`{"from":"A"}`), nil, ownerA)
}

// mixedCaseFolded is the rest of testMixedCaseIDs on a table that cannot hold both ids: the
// second gets ErrIDConflict from Create and InsertFinished, and the first stays as it was.
func (s *suite) mixedCaseFolded(t *testing.T, b repo.Store, lower, upper string, before repo.Record) {
	t.Helper()
	if rec, err := b.Create(ctx(t), upper); !errors.Is(err, repo.ErrIDConflict) {
		t.Fatalf("Create(%s) beside %s = %+v, %v; want ErrIDConflict", upper, lower, rec, err)
	}
	if ok, err := b.InsertFinished(ctx(t), upper, repo.StatusDone, body(`{"from":"B"}`)); !errors.Is(err, repo.ErrIDConflict) || ok {
		t.Fatalf("InsertFinished(%s) beside %s = %v, %v; want ErrIDConflict", upper, lower, ok, err)
	}
	mustNotFind(t, b, upper)
	if rec := mustFind(t, b, lower); !sameRecord(rec, before) {
		t.Fatalf("the conflicting calls changed %s: %+v -> %+v", lower, before, rec)
	}
}
