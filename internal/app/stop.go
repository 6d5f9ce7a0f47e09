package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	rungroup "github.com/oklog/run"
	"go.uber.org/zap"
)

// stopGroup is the daemon's run.Group (oklog/run, as Prometheus composes its components): one
// actor per component, added in the order the components stop. run.Group calls the actors'
// interrupts one after another, in that order; the interrupt of a stage that waits returns
// only once its component has stopped, so every stage added after it stops after it. Run
// states the order.
//
// Every component speaks one lifecycle verb, Run(ctx) error: it serves until ctx ends, stops
// within its own bound, and returns. One call is the component's whole life, so it cannot be
// stopped before it started or twice, and a component that fails ends the group with its
// error. (The alternative, Start(ctx)/Stop(ctx) as River's services have, would hand each
// Stop the daemon's deadline; but the runtime and the failover already speak Run, and each
// component's stop has a bound of its own: see stopSlack.)
type stopGroup struct {
	g      rungroup.Group
	log    *zap.Logger
	budget time.Duration // from the first interrupt to the stop's deadline

	once     sync.Once
	deadline time.Time

	mu   sync.Mutex
	errs []error
}

func newStopGroup(log *zap.Logger, budget time.Duration) *stopGroup {
	return &stopGroup{log: log, budget: budget}
}

// stopDeadline fixes the stop's deadline at its first call (the first interrupt) and
// returns it.
func (s *stopGroup) stopDeadline() time.Time {
	s.once.Do(func() {
		s.deadline = time.Now().Add(s.budget)
		s.log.Info("stopping", zap.Duration("within", s.budget))
	})
	return s.deadline
}

// add adds the component name, whose whole life is runFn. Its interrupt cancels runFn's
// context; with wait, it returns only once runFn has returned, so the stages added later stop
// after this one. runFn's context carries base's values, not its cancellation: the group
// decides when each component stops.
func (s *stopGroup) add(base context.Context, name string, wait bool, runFn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(base))
	done := make(chan struct{})
	s.g.Add(func() error {
		defer close(done)
		err := runFn(ctx)
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
		return err
	}, func(error) {
		s.stopDeadline()
		s.log.Info("stopping component", zap.String("component", name))
		cancel()
		if wait {
			<-done
		}
	})
}

// run runs the group until its first actor returns, stops every component in order, and
// returns every component's error.
func (s *stopGroup) run() error {
	_ = s.g.Run() // the first actor's error is among s.errs
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}
