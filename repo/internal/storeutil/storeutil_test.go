package storeutil

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func TestChunks(t *testing.T) {
	t.Parallel()
	ids := make([]string, 4001)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	var sizes []int
	for _, c := range Chunks(ids, 2000) {
		sizes = append(sizes, len(c))
	}
	if !reflect.DeepEqual(sizes, []int{2000, 2000, 1}) {
		t.Fatalf("sizes %v", sizes)
	}
	if got := Chunks(nil, 3); len(got) != 0 {
		t.Fatalf("Chunks(nil) = %v", got)
	}
	if got := Chunks([]string{"a", "b", "c"}, 3); len(got) != 1 {
		t.Fatalf("Chunks(3 of 3) = %v", got)
	}
}

func TestCheckIDs(t *testing.T) {
	t.Parallel()
	got, err := CheckIDs([]string{"a", "b", "a", "c", "b"})
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("CheckIDs = %v, %v", got, err)
	}
	if _, err := CheckIDs([]string{"a", "b c"}); !errors.Is(err, repo.ErrInvalidID) {
		t.Fatalf("CheckIDs(bad) = %v", err)
	}
}

func TestCeilUTC(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", 3600)
	tests := []struct{ in, want time.Time }{
		{time.Date(2025, 1, 1, 1, 0, 0, 0, zone), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 1000000, time.UTC)},
		{time.Date(2025, 1, 1, 0, 0, 0, 999999999, time.UTC), time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)},
		{time.Date(2025, 1, 1, 0, 0, 0, 5000000, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 5000000, time.UTC)},
	}
	for _, tt := range tests {
		got := CeilUTC(tt.in, time.Millisecond)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("CeilUTC(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckListAndPage(t *testing.T) {
	t.Parallel()
	o, err := CheckList(repo.ListOptions{})
	if err != nil || o.Limit != repo.DefaultListLimit {
		t.Fatalf("CheckList default = %+v, %v", o, err)
	}
	for _, bad := range []repo.ListOptions{{Limit: -1}, {Limit: repo.MaxListLimit + 1}, {Status: "x"}} {
		if _, err := CheckList(bad); !errors.Is(err, repo.ErrInvalidArgument) {
			t.Errorf("CheckList(%+v) = %v", bad, err)
		}
	}
	if _, err := CheckList(repo.ListOptions{After: "a b"}); !errors.Is(err, repo.ErrInvalidID) {
		t.Errorf("CheckList(bad cursor) = %v", err)
	}
	rows := []repo.Record{{CorrelationID: "a"}, {CorrelationID: "b"}, {CorrelationID: "c"}}
	if got, next := Page(rows, 2); len(got) != 2 || next != "b" {
		t.Errorf("Page(3 rows, 2) = %v, %q", got, next)
	}
	if got, next := Page(rows, 3); len(got) != 3 || next != "" {
		t.Errorf("Page(3 rows, 3) = %v, %q", got, next)
	}
}

func TestTransition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		updates []int64
		lookups []repo.Status // "" = absent
		want    repo.Outcome
	}{
		{"transitioned", []int64{1}, nil, repo.Transitioned},
		{"finished", []int64{0}, []repo.Status{repo.StatusDone}, repo.AlreadyFinished},
		{"absent", []int64{0}, []repo.Status{""}, repo.NotFound},
		{"created between update and lookup", []int64{0, 1}, []repo.Status{repo.StatusPending}, repo.Transitioned},
	}
	for _, tt := range tests {
		u, l := 0, 0
		got, err := Transition(ctx,
			func(context.Context) (int64, error) { u++; return tt.updates[u-1], nil },
			func(context.Context) (repo.Status, bool, error) {
				l++
				st := tt.lookups[l-1]
				return st, st != "", nil
			})
		if err != nil || got != tt.want {
			t.Errorf("%s: Transition = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	_, err := Transition(ctx,
		func(context.Context) (int64, error) { return 0, nil },
		func(context.Context) (repo.Status, bool, error) { return repo.StatusPending, true, nil })
	if err == nil {
		t.Error("Transition that never settles returned no error")
	}
}
