package topics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// work runs one task's handler with lock extension, then reports its outcome.
func (r *Runtime) work(s *sub, t *Task) {
	log := r.log.With(logging.Topic(t.Topic), logging.TaskID(t.ID), logging.ProcessInstanceID(t.ProcessInstanceID))
	hctx, cancel := context.WithCancelCause(r.handlerBase)
	defer cancel(nil)

	extDone := make(chan struct{})
	stopExt := make(chan struct{})
	go func() {
		defer close(extDone)
		r.extendLocks(hctx, stopExt, s, t, log, cancel)
	}()

	start := r.clock.Now()
	res, herr, panicked := runHandler(hctx, s.handler, t)
	elapsed := r.clock.Now().Sub(start)
	close(stopExt)
	<-extDone
	r.metrics.HandlerDuration(t.Topic, elapsed)
	if panicked {
		r.metrics.HandlerPanic(t.Topic)
		log.Error("handler panicked; reporting a failure with retries", logging.Err(herr))
	}

	if cause := context.Cause(hctx); errors.Is(cause, ErrLockLost) {
		r.metrics.LockLost(t.Topic)
		log.Warn("lock lost while the handler ran; outcome dropped", logging.Err(cause), zap.NamedError("handler_err", herr))
		return
	}
	if r.handlerBase.Err() != nil && herr != nil {
		// Cancelled by shutdown: hand the task back untouched rather than spend a retry.
		ctx, c := context.WithTimeout(r.reportBase, r.eng.reqTO)
		defer c()
		if err := r.eng.unlock(ctx, t.ID); err != nil && !errors.Is(err, ErrTaskGone) {
			r.metrics.ReportError(t.Topic, "unlock")
			log.Warn("unlock after shutdown cancel failed; the lock will expire", logging.Err(err))
			return
		}
		r.metrics.TaskUnlocked(t.Topic)
		log.Info("handler cancelled by shutdown; task unlocked")
		return
	}
	r.report(s, t, res, herr, log)
}

// runHandler calls the handler, turning a panic into an error carrying the stack.
func runHandler(ctx context.Context, h Handler, t *Task) (res Complete, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			err = &Failure{Err: fmt.Errorf("handler panic: %v", p), Details: fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack())}
			panicked = true
		}
	}()
	res, err = h.Handle(ctx, t)
	return res, err, false
}

// extendLocks extends t's lock every lockExtensionFraction × lockDuration until stop closes.
// A 400 or 404 means the lock is gone: the handler's context is cancelled with ErrLockLost.
func (r *Runtime) extendLocks(ctx context.Context, stop <-chan struct{}, s *sub, t *Task, log *zap.Logger, cancel context.CancelCauseFunc) {
	frac := r.cfg.LockExtensionFraction
	if frac <= 0 || frac >= 1 {
		frac = 0.5
	}
	every := time.Duration(float64(s.cfg.LockDuration) * frac)
	if every <= 0 {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-r.clock.After(every):
		}
		ectx, c := context.WithTimeout(r.reportBase, r.eng.reqTO)
		err := r.eng.extendLock(ectx, t.ID, s.cfg.LockDuration)
		c()
		var ee *EngineError
		switch {
		case err == nil:
			r.metrics.LockExtended(t.Topic)
			log.Debug("lock extended", zap.Duration("lock_duration", s.cfg.LockDuration))
		case errors.As(err, &ee) && (ee.Status == http.StatusBadRequest || ee.Status == http.StatusNotFound):
			cancel(fmt.Errorf("%w: %w", ErrLockLost, err))
			return
		default:
			log.Warn("extend lock failed; trying again at the next interval", logging.Err(err))
		}
	}
}
