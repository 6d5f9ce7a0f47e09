package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// stopLog records the order in which stages stop.
type stopLog struct {
	mu    sync.Mutex
	order []string
}

func (l *stopLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, s)
}

func (l *stopLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

// TestStopGroupStopsInDeclaredOrder: when the first stage returns, every stage is stopped in
// the order it was added, and a stage that waits holds the ones after it until it has
// stopped, however long its own stop takes.
func TestStopGroupStopsInDeclaredOrder(t *testing.T) {
	t.Parallel()
	var l stopLog
	g := newStopGroup(zap.NewNop(), time.Minute)
	parent, cancel := context.WithCancel(context.Background())
	g.add(parent, "signal", false, func(stop context.Context) error {
		select {
		case <-parent.Done():
		case <-stop.Done():
		}
		return nil
	})
	for _, name := range []string{"first", "second", "third"} {
		g.add(parent, name, true, func(stop context.Context) error {
			<-stop.Done()
			if name == "first" {
				// A slow stop: the stages after it must wait for it. (The slowness is what is
				// tested, not a synchronisation.)
				time.Sleep(50 * time.Millisecond)
			}
			l.add(name)
			return nil
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.run() }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not stop")
	}
	require.Equal(t, []string{"first", "second", "third"}, l.get())
	require.False(t, g.deadline.IsZero(), "the first interrupt fixed the stop's deadline")
}

// TestStopGroupAFailingComponentStopsTheRest: a component that returns an error ends the
// group: the others are stopped, and Run's error names the component.
func TestStopGroupAFailingComponentStopsTheRest(t *testing.T) {
	t.Parallel()
	g := newStopGroup(zap.NewNop(), time.Minute)
	stopped := make(chan struct{})
	g.add(context.Background(), "worker", true, func(stop context.Context) error {
		<-stop.Done()
		close(stopped)
		return nil
	})
	g.add(context.Background(), "listener", false, func(context.Context) error {
		return errors.New("address already in use")
	})
	err := g.run()
	require.ErrorContains(t, err, "listener: address already in use")
	select {
	case <-stopped:
	default:
		t.Fatal("the other component was not stopped")
	}
}
