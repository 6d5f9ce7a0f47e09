package topics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
)

// report sends the outcome, retrying 5xx and network errors with capped exponential backoff
// and jitter for at most the lock duration (past it the engine may hand the task to
// another worker anyway).
func (r *Runtime) report(s *sub, t *Task, res Complete, herr error, log *zap.Logger) {
	var (
		op   string
		call func(ctx context.Context) error
		ok   func()
	)
	var bpmn *BPMNError
	switch {
	case herr == nil:
		op = "complete"
		call = func(ctx context.Context) error { return r.eng.complete(ctx, t.ID, res) }
		ok = func() { r.metrics.TaskCompleted(t.Topic); log.Debug("task completed") }
	case errors.As(herr, &bpmn):
		op = "bpmnError"
		call = func(ctx context.Context) error { return r.eng.bpmnError(ctx, t.ID, bpmn) }
		ok = func() {
			r.metrics.TaskBPMNError(t.Topic)
			log.Info("bpmn error thrown", zap.String("error_code", bpmn.Code), zap.String("error_message", bpmn.Message))
		}
	default:
		op = "failure"
		fr := failureFor(s.cfg, t, herr)
		call = func(ctx context.Context) error { return r.eng.failure(ctx, t.ID, fr) }
		ok = func() {
			r.metrics.TaskFailed(t.Topic)
			lvl := log.Warn
			if fr.Retries == 0 {
				lvl = log.Error
			}
			lvl("task failed", logging.Err(herr), zap.Int("retries_left", fr.Retries), zap.Duration("retry_timeout", time.Duration(fr.RetryTimeout)*time.Millisecond))
		}
	}
	err := r.retry(s, call)
	switch {
	case err == nil:
		ok()
	case errors.Is(err, ErrLockLost):
		r.metrics.LockLost(t.Topic)
		log.Warn("lock lost: another worker holds the task; outcome dropped", zap.String("op", op), logging.Err(err))
	case errors.Is(err, ErrTaskGone):
		log.Info("task gone (completed elsewhere, cancelled or instance deleted); outcome dropped", zap.String("op", op), logging.Err(err))
	case op != "failure" && isBadRequest(err):
		// The engine refused our completion itself (e.g. a variable it cannot store): turn it
		// into an incident with the engine's message rather than retry forever.
		zero := 0
		fr := failureFor(s.cfg, t, &Failure{Err: err, Message: "engine rejected " + op, Retries: &zero})
		if ferr := r.retry(s, func(ctx context.Context) error { return r.eng.failure(ctx, t.ID, fr) }); ferr != nil {
			r.metrics.ReportError(t.Topic, "failure")
			log.Error("engine rejected the outcome and the failure report", zap.String("op", op), logging.Err(err), zap.NamedError("failure_err", ferr))
			return
		}
		r.metrics.TaskFailed(t.Topic)
		log.Error("engine rejected the outcome; reported an incident", zap.String("op", op), logging.Err(err))
	default:
		r.metrics.ReportError(t.Topic, op)
		log.Error("could not report outcome; the engine offers the task again when its lock expires", zap.String("op", op), logging.Err(err))
	}
}

func isBadRequest(err error) bool {
	var ee *EngineError
	return errors.As(err, &ee) && ee.Status == http.StatusBadRequest
}

func (r *Runtime) retry(s *sub, call func(ctx context.Context) error) error {
	bound := s.cfg.LockDuration
	if bound < 10*time.Second {
		bound = 10 * time.Second
	}
	_, err := backoff.Retry(r.reportBase, func() (struct{}, error) {
		err := call(r.reportBase)
		if err != nil && !retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 5 * time.Second}),
		backoff.WithMaxElapsedTime(bound))
	return err
}
