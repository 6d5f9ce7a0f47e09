package repotest

// The replicas' heartbeats: Beat, Workers, ForgetWorker.

import (
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func (s *suite) testHeartbeats(t *testing.T) {
	a, _ := s.store(t, "beat")
	b, _ := s.store(t, "beat")
	w1, w2 := s.owner("w"), s.owner("w")
	beats := func() map[string]repo.WorkerBeat {
		t.Helper()
		ws, err := b.Workers(ctx(t))
		if err != nil {
			t.Fatalf("Workers: %v", err)
		}
		out := map[string]repo.WorkerBeat{}
		for _, w := range ws {
			if w.WorkerID == w1 || w.WorkerID == w2 {
				out[w.WorkerID] = w
			}
		}
		return out
	}
	if got := beats(); len(got) != 0 {
		t.Fatalf("fresh workers already listed: %+v", got)
	}
	for _, w := range []string{w1, w2, w1} {
		if err := a.Beat(ctx(t), w); err != nil {
			t.Fatalf("Beat(%s): %v", w, err)
		}
	}
	got := beats()
	if len(got) != 2 {
		t.Fatalf("Workers = %+v, want %s and %s once each", got, w1, w2)
	}
	for _, w := range got {
		if w.Age < 0 || w.Age > time.Minute {
			t.Fatalf("%s: age %s just after its beat", w.WorkerID, w.Age)
		}
	}
	// A recent beat is not forgotten with an age limit; its age grows until it is.
	if ok, err := b.ForgetWorker(ctx(t), w1, time.Hour); err != nil || ok {
		t.Fatalf("ForgetWorker(fresh, 1h) = %v, %v; want false", ok, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for beats()[w1].Age < shortLease {
		if time.Now().After(deadline) {
			t.Fatalf("%s's age never reached %s: %+v", w1, shortLease, beats()[w1])
		}
		time.Sleep(shortLease / 5) // polling interval
	}
	if ok, err := b.ForgetWorker(ctx(t), w1, shortLease); err != nil || !ok {
		t.Fatalf("ForgetWorker(stale) = %v, %v; want true", ok, err)
	}
	// A beat makes the age small again; ForgetWorker with 0 removes a row whatever its age.
	if err := a.Beat(ctx(t), w2); err != nil {
		t.Fatal(err)
	}
	if g := beats(); len(g) != 1 || g[w2].Age > time.Minute {
		t.Fatalf("after forgetting %s: %+v", w1, g)
	}
	if ok, err := b.ForgetWorker(ctx(t), w2, 0); err != nil || !ok {
		t.Fatalf("ForgetWorker(w2, 0) = %v, %v", ok, err)
	}
	if g := beats(); len(g) != 0 {
		t.Fatalf("rows left: %+v", g)
	}
	if ok, err := b.ForgetWorker(ctx(t), w2, 0); err != nil || ok {
		t.Fatalf("ForgetWorker of a missing worker = %v, %v; want false", ok, err)
	}
}
