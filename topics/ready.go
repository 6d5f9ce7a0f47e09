package topics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// EngineProbeTimeout bounds the live call of CheckEngine: a hung engine is reported as not
// ready after this long instead of holding the readiness answer.
const EngineProbeTimeout = 2 * time.Second

// engineProbeTTL is how long a successful live call vouches for the engine. Readiness may be
// asked several times a second (kubelet, load balancers, each replica): one GET /version per
// second per replica is plenty, and an answer at most a second old is still honest. Failures
// are not cached: the next check probes again, so recovery shows at once.
const engineProbeTTL = time.Second

// prober shares live engine probes: concurrent checks wait on one call, and a success is
// reused for engineProbeTTL.
type prober struct {
	sf   singleflight.Group
	mu   sync.Mutex
	okAt time.Time
}

// CheckEngine is the readiness check of the engine: the poll loop's view (Ready), and, when
// that is fine, a live GET /version within EngineProbeTimeout. The poll loop alone cannot
// tell a hung engine: its long poll is in flight for asyncResponseTimeout and more before it
// fails, and all that while the loop has seen nothing wrong.
func (r *Runtime) CheckEngine(ctx context.Context) error {
	if err := r.Ready(); err != nil {
		return err
	}
	p := &r.probe
	p.mu.Lock()
	fresh := !p.okAt.IsZero() && r.clock.Now().Sub(p.okAt) < engineProbeTTL
	p.mu.Unlock()
	if fresh {
		return nil
	}
	ch := p.sf.DoChan("version", func() (any, error) {
		// Detached from the caller: a client that goes away must not fail the probe that
		// other checks wait on.
		pctx, cancel := context.WithTimeout(context.Background(), EngineProbeTimeout)
		defer cancel()
		v, err := r.eng.version(pctx)
		if err == nil {
			p.mu.Lock()
			p.okAt = r.clock.Now()
			p.mu.Unlock()
			r.engineAnswered(v)
		}
		return nil, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return fmt.Errorf("%w: engine at %s does not answer GET /version within %s: %w", ErrNotReady, redactURL(r.cfg.Engine.URL), EngineProbeTimeout, res.Err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: engine at %s: no answer to GET /version before the readiness deadline", ErrNotReady, redactURL(r.cfg.Engine.URL))
	}
}
