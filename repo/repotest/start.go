package repotest

// The conformance tests of the start protocol (BeginStart, ReadStart, ClaimStart,
// ReleaseStart, SetInstance) and the heartbeats (Beat, Workers, ForgetWorker). They run in
// parallel with the other row tests, each on ids and worker ids of its own.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// startTests lists the tests of this file for Run.
func (s *suite) startTests() []struct {
	name string
	f    func(*testing.T)
} {
	return []struct {
		name string
		f    func(*testing.T)
	}{
		{"BeginStart", s.testBeginStart},
		{"BeginStartOnExistingRows", s.testBeginStartOnExistingRows},
		{"RaceBeginStart", s.testRaceBeginStart},
		{"ClaimStart", s.testClaimStart},
		{"RaceClaimStart", s.testRaceClaimStart},
		{"ReleaseStart", s.testReleaseStart},
		{"SetInstance", s.testSetInstance},
		{"RaceSetInstance", s.testRaceSetInstance},
		{"StartBadInput", s.testStartBadInput},
		{"StartMixedCaseIDs", s.testStartMixedCaseIDs},
		{"Heartbeats", s.testHeartbeats},
	}
}

const (
	testKey   = "test-process"
	longLease = time.Hour
	// shortLease runs out while a test polls for it; the polls never sleep longer than it.
	shortLease = 50 * time.Millisecond
)

func mustBegin(t *testing.T, st repo.Store, id string, lease time.Duration, wantCreated bool) repo.StartState {
	t.Helper()
	got, created, err := st.BeginStart(ctx(t), id, testKey, lease)
	if err != nil {
		t.Fatalf("BeginStart(%s): %v", id, err)
	}
	if created != wantCreated {
		t.Fatalf("BeginStart(%s) created = %v, want %v (state %+v)", id, created, wantCreated, got)
	}
	return got
}

func mustReadStart(t *testing.T, st repo.Store, id string) repo.StartState {
	t.Helper()
	got, err := st.ReadStart(ctx(t), id)
	if err != nil {
		t.Fatalf("ReadStart(%s): %v", id, err)
	}
	return got
}

func mustClaim(t *testing.T, st repo.Store, id string, attempt int64, lease time.Duration, want bool) {
	t.Helper()
	got, err := st.ClaimStart(ctx(t), id, attempt, lease)
	if err != nil {
		t.Fatalf("ClaimStart(%s, %d): %v", id, attempt, err)
	}
	if got != want {
		t.Fatalf("ClaimStart(%s, %d) = %v, want %v (state %+v)", id, attempt, got, want, mustReadStart(t, st, id))
	}
}

// waitLeaseOut polls ReadStart until the row's claim has run out (database clock).
func waitLeaseOut(t *testing.T, st repo.Store, id string) repo.StartState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := mustReadStart(t, st, id)
		if got.LeaseLeft == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: lease still %s left after 30s", id, got.LeaseLeft)
		}
		time.Sleep(min(got.LeaseLeft, shortLease)) // polling interval, bounded by the lease
	}
}

func checkStart(t *testing.T, got repo.StartState, status repo.Status, key, instance string, attempt int64) {
	t.Helper()
	if got.Status != status || got.ProcessKey != key || got.ProcessInstanceID != instance || got.Attempt != attempt {
		t.Fatalf("%s: status %s key %q instance %q attempt %d; want %s %q %q %d",
			got.CorrelationID, got.Status, got.ProcessKey, got.ProcessInstanceID, got.Attempt, status, key, instance, attempt)
	}
}

func (s *suite) testBeginStart(t *testing.T) {
	a, ownerA := s.store(t, "begin")
	b, _ := s.store(t, "begin")
	id := s.id("begin")
	mustNotFind(t, a, id)
	if _, err := a.ReadStart(ctx(t), id); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("ReadStart of a missing id = %v, want ErrNotFound", err)
	}

	first := mustBegin(t, a, id, longLease, true)
	checkStart(t, first, repo.StatusPending, testKey, "", 1)
	checkRecord(t, first.Record, id, repo.StatusPending, nil, nil, ownerA)
	if first.LeaseLeft <= longLease-time.Minute || first.LeaseLeft > longLease {
		t.Fatalf("LeaseLeft = %s, want about %s", first.LeaseLeft, longLease)
	}
	if first.Startable() {
		t.Fatal("a row under a live claim is Startable")
	}

	// A second BeginStart, from another replica, inserts nothing and changes nothing: the
	// row keeps its owner and claim.
	again := mustBegin(t, b, id, longLease, false)
	checkStart(t, again, repo.StatusPending, testKey, "", 1)
	if again.Owner != ownerA || !again.UpdatedAt.Equal(first.UpdatedAt) || !again.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("second BeginStart changed the row: %+v, first %+v", again, first)
	}
	read := mustReadStart(t, b, id)
	checkStart(t, read, repo.StatusPending, testKey, "", 1)
	if !sameRecord(read.Record, first.Record) {
		t.Fatalf("ReadStart = %+v, want %+v", read.Record, first.Record)
	}
	// The row is an ordinary wait for the rest of the store.
	checkRecord(t, mustFind(t, b, id), id, repo.StatusPending, nil, nil, ownerA)
	mustComplete(t, b, id, body(`{"ok":1}`), repo.Transitioned)
	done := mustBegin(t, a, id, longLease, false)
	checkStart(t, done, repo.StatusDone, testKey, "", 1)
	if !sameJSON(done.Payload, body(`{"ok":1}`)) || done.Startable() {
		t.Fatalf("BeginStart on a finished row = %+v", done)
	}
}

func (s *suite) testBeginStartOnExistingRows(t *testing.T) {
	st, owner := s.store(t, "beginx")
	// A row registered by Create (the waitroom library): no process key, no claim; the start
	// protocol only waits on it.
	reg := s.id("beginx")
	mustCreate(t, st, reg)
	got := mustBegin(t, st, reg, longLease, false)
	checkStart(t, got, repo.StatusPending, "", "", 0)
	checkRecord(t, got.Record, reg, repo.StatusPending, nil, nil, owner)
	if got.LeaseLeft != 0 || got.Startable() {
		t.Fatalf("registered row: LeaseLeft %s, Startable %v", got.LeaseLeft, got.Startable())
	}
	mustClaim(t, st, reg, 0, longLease, false)

	// A row inserted finished: returned as it is.
	fin := s.id("beginx")
	mustInsertFinished(t, st, fin, repo.StatusError, body(`{"e":1}`), true)
	got = mustBegin(t, st, fin, longLease, false)
	checkStart(t, got, repo.StatusError, "", "", 0)
	checkRecord(t, got.Record, fin, repo.StatusError, nil, body(`{"e":1}`), "")
}

func (s *suite) testRaceBeginStart(t *testing.T) {
	a, ownerA := s.store(t, "raceb")
	b, ownerB := s.store(t, "raceb")
	stores := []repo.Store{a, b}
	id := s.id("raceb")
	created := make([]bool, racers)
	states := make([]repo.StartState, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			states[i], created[i], errs[i] = stores[i%2].BeginStart(ctx(t), id, testKey, longLease)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("BeginStart %d: %v", i, errs[i])
		}
		if created[i] {
			if winner >= 0 {
				t.Fatalf("BeginStart %d and %d both created the row", winner, i)
			}
			winner = i
		}
		checkStart(t, states[i], repo.StatusPending, testKey, "", 1)
	}
	if winner < 0 {
		t.Fatal("no BeginStart created the row")
	}
	want := map[int]string{0: ownerA, 1: ownerB}[winner%2]
	if got := mustReadStart(t, a, id); got.Owner != want {
		t.Fatalf("owner %q, want the creator %q", got.Owner, want)
	}
}

func (s *suite) testClaimStart(t *testing.T) {
	a, _ := s.store(t, "claim")
	b, ownerB := s.store(t, "claim")
	id := s.id("claim")
	mustBegin(t, a, id, shortLease, true)
	live := s.id("claim")
	mustBegin(t, a, live, longLease, true)
	mustClaim(t, b, live, 1, longLease, false) // the claim is live

	expired := waitLeaseOut(t, a, id)
	if !expired.Startable() {
		t.Fatalf("expired claim not Startable: %+v", expired)
	}
	mustClaim(t, b, id, 0, longLease, false) // wrong attempt
	mustClaim(t, b, id, 2, longLease, false) // wrong attempt
	mustClaim(t, b, id, 1, longLease, true)
	got := mustReadStart(t, a, id)
	checkStart(t, got, repo.StatusPending, testKey, "", 2)
	if got.Owner != ownerB || got.LeaseLeft <= longLease-time.Minute || got.Startable() {
		t.Fatalf("after the takeover: %+v", got)
	}
	mustClaim(t, a, id, 1, longLease, false) // the old token is fenced off
	mustClaim(t, a, id, 2, longLease, false) // the new claim is live

	// Nothing to take over on a finished row or once an instance is recorded.
	fin := s.id("claim")
	mustBegin(t, a, fin, shortLease, true)
	mustFail(t, a, fin, body(`{"x":1}`), repo.Transitioned)
	waitLeaseOut(t, a, fin)
	mustClaim(t, b, fin, 1, longLease, false)
	inst := s.id("claim")
	mustBegin(t, a, inst, shortLease, true)
	if _, err := a.SetInstance(ctx(t), inst, "instance-1"); err != nil {
		t.Fatal(err)
	}
	if st := waitLeaseOut(t, a, inst); st.Startable() {
		t.Fatalf("a row with an instance is Startable: %+v", st)
	}
	mustClaim(t, b, inst, 1, longLease, false)
}

func (s *suite) testRaceClaimStart(t *testing.T) {
	a, _ := s.store(t, "racecl")
	b, _ := s.store(t, "racecl")
	stores := []repo.Store{a, b}
	id := s.id("racecl")
	mustBegin(t, a, id, shortLease, true)
	waitLeaseOut(t, a, id)
	wins := make([]bool, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			wins[i], errs[i] = stores[i%2].ClaimStart(ctx(t), id, 1, longLease)
		})
	}
	close(start)
	wg.Wait()
	n := 0
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("ClaimStart %d: %v", i, errs[i])
		}
		if wins[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d concurrent ClaimStarts won, want exactly 1", n, racers)
	}
	checkStart(t, mustReadStart(t, a, id), repo.StatusPending, testKey, "", 2)
}

func (s *suite) testReleaseStart(t *testing.T) {
	st, _ := s.store(t, "release")
	id := s.id("release")
	mustBegin(t, st, id, longLease, true)
	for _, attempt := range []int64{0, 2} {
		if ok, err := st.ReleaseStart(ctx(t), id, attempt); err != nil || ok {
			t.Fatalf("ReleaseStart(attempt %d) = %v, %v; want false: the claim is 1", attempt, ok, err)
		}
	}
	if got := mustReadStart(t, st, id); got.LeaseLeft == 0 {
		t.Fatal("a refused ReleaseStart ended the claim")
	}
	if ok, err := st.ReleaseStart(ctx(t), id, 1); err != nil || !ok {
		t.Fatalf("ReleaseStart(1) = %v, %v", ok, err)
	}
	got := mustReadStart(t, st, id)
	checkStart(t, got, repo.StatusPending, testKey, "", 1)
	if got.LeaseLeft != 0 || !got.Startable() {
		t.Fatalf("after ReleaseStart: LeaseLeft %s, Startable %v", got.LeaseLeft, got.Startable())
	}
	// Releasing again is harmless and never revives the claim.
	if ok, err := st.ReleaseStart(ctx(t), id, 1); err != nil || !ok {
		t.Fatalf("second ReleaseStart(1) = %v, %v", ok, err)
	}
	if got := mustReadStart(t, st, id); got.LeaseLeft != 0 {
		t.Fatalf("second ReleaseStart revived the lease: %s", got.LeaseLeft)
	}
	mustClaim(t, st, id, 1, longLease, true)
	// Once an instance is recorded there is nothing to release.
	if _, err := st.SetInstance(ctx(t), id, "instance-r"); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.ReleaseStart(ctx(t), id, 2); err != nil || ok {
		t.Fatalf("ReleaseStart with an instance recorded = %v, %v; want false", ok, err)
	}
}

func (s *suite) testSetInstance(t *testing.T) {
	st, _ := s.store(t, "inst")
	id := s.id("inst")
	if _, err := st.SetInstance(ctx(t), id, "i-1"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("SetInstance of a missing id = %v, want ErrNotFound", err)
	}
	before := mustBegin(t, st, id, longLease, true)
	got, err := st.SetInstance(ctx(t), id, "i-1")
	if err != nil || got != "i-1" {
		t.Fatalf("SetInstance = %q, %v", got, err)
	}
	after := mustReadStart(t, st, id)
	checkStart(t, after, repo.StatusPending, testKey, "i-1", 1)
	if !after.UpdatedAt.After(before.UpdatedAt) {
		t.Fatalf("updated_at did not move forward: %s -> %s", before.UpdatedAt, after.UpdatedAt)
	}
	// The first instance stays; a second one learns which.
	if got, err := st.SetInstance(ctx(t), id, "i-2"); err != nil || got != "i-1" {
		t.Fatalf("second SetInstance = %q, %v; want i-1", got, err)
	}
	// A process that finished before its start answered still gets its instance recorded.
	done := s.id("inst")
	mustBegin(t, st, done, longLease, true)
	mustComplete(t, st, done, body(`{"fast":true}`), repo.Transitioned)
	if got, err := st.SetInstance(ctx(t), done, "i-3"); err != nil || got != "i-3" {
		t.Fatalf("SetInstance on a DONE row = %q, %v", got, err)
	}
	fin := mustReadStart(t, st, done)
	checkStart(t, fin, repo.StatusDone, testKey, "i-3", 1)
	if !sameJSON(fin.Payload, body(`{"fast":true}`)) {
		t.Fatalf("payload changed: %s", fin.Payload)
	}
}

func (s *suite) testRaceSetInstance(t *testing.T) {
	a, _ := s.store(t, "raceinst")
	b, _ := s.store(t, "raceinst")
	stores := []repo.Store{a, b}
	id := s.id("raceinst")
	mustBegin(t, a, id, longLease, true)
	got := make([]string, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = stores[i%2].SetInstance(ctx(t), id, fmt.Sprintf("inst-%d", i))
		})
	}
	close(start)
	wg.Wait()
	winner := mustReadStart(t, a, id).ProcessInstanceID
	if winner == "" {
		t.Fatal("no instance recorded")
	}
	for i := range racers {
		if errs[i] != nil || got[i] != winner {
			t.Fatalf("SetInstance %d = %q, %v; want the recorded %q", i, got[i], errs[i], winner)
		}
	}
}

func (s *suite) testStartBadInput(t *testing.T) {
	st, _ := s.store(t, "startbad")
	good := s.id("startbad")
	c := ctx(t)
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"BeginStart id", func() error { _, _, err := st.BeginStart(c, "bad id", testKey, longLease); return err }, repo.ErrInvalidID},
		{"BeginStart empty key", func() error { _, _, err := st.BeginStart(c, good, "", longLease); return err }, repo.ErrInvalidArgument},
		{"BeginStart key with colon", func() error { _, _, err := st.BeginStart(c, good, "a:b", longLease); return err }, repo.ErrInvalidArgument},
		{"BeginStart zero lease", func() error { _, _, err := st.BeginStart(c, good, testKey, 0); return err }, repo.ErrInvalidArgument},
		{"BeginStart huge lease", func() error { _, _, err := st.BeginStart(c, good, testKey, repo.MaxLease+1); return err }, repo.ErrInvalidArgument},
		{"ReadStart id", func() error { _, err := st.ReadStart(c, ""); return err }, repo.ErrInvalidID},
		{"ClaimStart id", func() error { _, err := st.ClaimStart(c, "x/y", 1, longLease); return err }, repo.ErrInvalidID},
		{"ClaimStart attempt", func() error { _, err := st.ClaimStart(c, good, -1, longLease); return err }, repo.ErrInvalidArgument},
		{"ClaimStart lease", func() error { _, err := st.ClaimStart(c, good, 1, -time.Second); return err }, repo.ErrInvalidArgument},
		{"ReleaseStart attempt", func() error { _, err := st.ReleaseStart(c, good, -1); return err }, repo.ErrInvalidArgument},
		{"SetInstance id", func() error { _, err := st.SetInstance(c, "", "i"); return err }, repo.ErrInvalidID},
		{"SetInstance instance", func() error { _, err := st.SetInstance(c, good, "not valid"); return err }, repo.ErrInvalidArgument},
		{"Beat worker", func() error { return st.Beat(c, "") }, repo.ErrInvalidArgument},
		{"ForgetWorker worker", func() error { _, err := st.ForgetWorker(c, "a b", 0); return err }, repo.ErrInvalidArgument},
		{"ForgetWorker age", func() error { _, err := st.ForgetWorker(c, "w", -time.Second); return err }, repo.ErrInvalidArgument},
	} {
		wantErr(t, tc.name, tc.call(), tc.want)
	}
	mustNotFind(t, st, good)
}

// testStartMixedCaseIDs: the id contract of testMixedCaseIDs for the start methods: an id
// that differs from a registered one only in letter case has no row of its own until it is
// begun, and then gets one, or ErrIDConflict where the table cannot hold both.
func (s *suite) testStartMixedCaseIDs(t *testing.T) {
	a, _ := s.store(t, "startcase")
	base := s.id("startcase")
	lower, upper := base+".abc", base+".ABC"
	mustBegin(t, a, lower, shortLease, true)
	waitLeaseOut(t, a, lower)

	if _, err := a.ReadStart(ctx(t), upper); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("ReadStart(%s) = %v, want ErrNotFound", upper, err)
	}
	mustClaim(t, a, upper, 1, longLease, false)
	if ok, err := a.ReleaseStart(ctx(t), upper, 1); err != nil || ok {
		t.Fatalf("ReleaseStart(%s) = %v, %v; want false", upper, ok, err)
	}
	if _, err := a.SetInstance(ctx(t), upper, "i-upper"); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("SetInstance(%s) = %v, want ErrNotFound", upper, err)
	}
	checkStart(t, mustReadStart(t, a, lower), repo.StatusPending, testKey, "", 1)

	st, created, err := a.BeginStart(ctx(t), upper, testKey, longLease)
	if foldsCase(a) {
		if !errors.Is(err, repo.ErrIDConflict) {
			t.Fatalf("BeginStart(%s) on a case-folding table = %+v, %v, %v; want ErrIDConflict", upper, st, created, err)
		}
		return
	}
	if err != nil || !created {
		t.Fatalf("BeginStart(%s) = %v, %v; want a row of its own", upper, created, err)
	}
	checkStart(t, st, repo.StatusPending, testKey, "", 1)
	mustClaim(t, a, lower, 1, longLease, true) // the lower-case id's expired claim is its own
	checkStart(t, mustReadStart(t, a, upper), repo.StatusPending, testKey, "", 1)
}
