package repotest

// Races: concurrent writers of one id, from separate stores (separate pools, as separate
// processes would have).

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

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
						errs <- fmt.Errorf("store.Create returned %+v", rec)
					}
					return
				}
			}
			errs <- fmt.Errorf("%d calls of store.Create never returned the completed row", maxCreates)
		})
	}
	wg.Go(func() {
		<-start
		out, err := stores[1].Complete(ctx(t), id, payload)
		if err == nil && out != repo.Transitioned {
			err = fmt.Errorf("store.Complete = %v, want Transitioned", out)
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
