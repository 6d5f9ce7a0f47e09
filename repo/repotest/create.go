package repotest

// Create and the guarded transitions (Complete, Fail): registration never resets a finished
// row, the first writer wins, updated_at only moves forward.

import (
	"encoding/json"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

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
