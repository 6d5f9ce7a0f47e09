package repotest

// InsertFinished: a finished row for a wait that was never registered or was cleaned up.

import (
	"errors"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

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
