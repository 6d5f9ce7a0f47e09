// Package result is the generic "result" handler: it reads a process's answer from the
// task's variables and finishes the process_store row the front service waits on, DONE with
// a payload or ERROR with an error body. Its settings are Options, which the daemon maps from
// a topic's YAML (topics[].result), so a new process that ends in a result task needs no Go
// code:
//
//	topics:
//	  - name: my-process/respond
//	    handler: result
//	    result:
//	      correlationVariable: correlationId   # holds the process_store id
//	      variables: [orderId, total]          # the DONE payload {"orderId":..,"total":..}
//	      errorVariable: error                 # when set and not null: ERROR with its value
//	      onMissingRow: insert                 # insert | ignore | fail
package result

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
)

// Name is the handler name to use in topics[].handler.
const Name = "result"

// Finisher finishes process_store rows: what the handler needs from the store. repo.Store
// satisfies it, and the waitroom provides one that also wakes in-process waiters.
type Finisher interface {
	Complete(ctx context.Context, id string, payload json.RawMessage) (repo.Outcome, error)
	Fail(ctx context.Context, id string, errBody json.RawMessage) (repo.Outcome, error)
	InsertFinished(ctx context.Context, id string, status repo.Status, body json.RawMessage) (bool, error)
}

// Handler finishes process_store rows from task variables; see the package doc.
type Handler struct {
	cfg Options
	f   Finisher
	log *zap.Logger
}

// Factory returns the factory of result handlers writing through f, to register under Name.
// Each topic's handler takes its settings from topic.HandlerOptions (a result.Options; nil
// means the defaults). A nil f makes every build fail: the handler needs a process_store.
func Factory(f Finisher) topics.Factory {
	return func(topic topics.Topic, deps topics.Deps) (topics.Handler, error) {
		o, err := TopicOptions(topic)
		if err != nil {
			return nil, err
		}
		return New(o, f, deps.Log)
	}
}

// TopicOptions is topic.HandlerOptions as Options: the zero Options when it is nil, an error
// naming the type when it is something else.
func TopicOptions(topic topics.Topic) (Options, error) {
	switch o := topic.HandlerOptions.(type) {
	case nil:
		return Options{}, nil
	case Options:
		return o, nil
	case *Options:
		if o == nil {
			return Options{}, nil
		}
		return *o, nil
	default:
		return Options{}, fmt.Errorf("topic %q: HandlerOptions is a %T: the result handler takes a result.Options", topic.Name, o)
	}
}

// New returns a handler for o writing through f. Zero fields of o take their defaults
// (CorrelationVariableDefault, OnMissingRowDefault).
func New(o Options, f Finisher, log *zap.Logger) (*Handler, error) {
	if f == nil {
		return nil, errors.New("result handler needs a process_store (its Finisher is nil)")
	}
	o = o.WithDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Handler{cfg: o, f: f, log: logging.Component(log, "result")}, nil
}

// Handle finishes the row named by the correlation variable. Bad input from the process (no
// correlation id, an invalid one, a result that is not JSON or too large) fails the task with
// retries 0, an incident naming the problem; a store error fails it with retries, so nothing
// is lost while the database is down.
func (h *Handler) Handle(ctx context.Context, t *topics.Task) (topics.Complete, error) {
	cv := h.cfg.CorrelationVariable
	id, ok := t.String(cv)
	if !ok {
		return topics.Complete{}, topics.Permanent(fmt.Errorf("no correlation id: process variable %q (result.correlationVariable) is missing or null", cv))
	}
	if err := repo.ValidateID(id); err != nil {
		return topics.Complete{}, topics.Permanent(fmt.Errorf("process variable %q (result.correlationVariable): %w", cv, err))
	}
	log := h.log.With(logging.Topic(t.Topic), logging.TaskID(t.ID),
		logging.CorrelationID(id), logging.ProcessInstanceID(t.ProcessInstanceID))

	status, body, err := h.body(t)
	if err != nil {
		return topics.Complete{}, topics.Permanent(err)
	}

	var outcome repo.Outcome
	if status == repo.StatusError {
		outcome, err = h.f.Fail(ctx, id, body)
	} else {
		outcome, err = h.f.Complete(ctx, id, body)
	}
	if err != nil {
		return topics.Complete{}, storeError(status, err)
	}
	switch outcome {
	case repo.Transitioned:
		log.Debug("row finished", zap.String("status", string(status)))
	case repo.AlreadyFinished:
		log.Debug("row already finished; nothing changed", zap.String("status", string(status)))
	case repo.NotFound:
		switch h.cfg.OnMissingRow {
		case MissingRowIgnore:
			log.Info("no row for this correlation id; result dropped (result.onMissingRow=ignore)")
		case MissingRowFail:
			return topics.Complete{}, topics.Permanent(fmt.Errorf("no process_store row for correlation id %q from process variable %q (result.onMissingRow=fail)", id, cv))
		default:
			inserted, err := h.f.InsertFinished(ctx, id, status, body)
			if err != nil {
				return topics.Complete{}, storeError(status, err)
			}
			if !inserted {
				// A wait was registered meanwhile: finish that row instead. A failure here
				// is retried by the engine, which lands in one of the cases above.
				if status == repo.StatusError {
					_, err = h.f.Fail(ctx, id, body)
				} else {
					_, err = h.f.Complete(ctx, id, body)
				}
				if err != nil {
					return topics.Complete{}, storeError(status, err)
				}
			}
			log.Info("no row for this correlation id; inserted it finished for a late reader", zap.String("status", string(status)))
		}
	default:
		return topics.Complete{}, fmt.Errorf("process_store: unexpected outcome %v", outcome)
	}
	return topics.Complete{}, nil
}

// body is ERROR with the error variable's value when that is set and not null, else DONE with
// the payload object.
func (h *Handler) body(t *topics.Task) (repo.Status, json.RawMessage, error) {
	if ev := h.cfg.ErrorVariable; ev != "" {
		if v, ok := t.Var(ev); ok && !v.IsNull() {
			b, err := v.JSON()
			if err != nil {
				return "", nil, fmt.Errorf("process variable %q (result.errorVariable): %w", ev, err)
			}
			return repo.StatusError, b, nil
		}
	}
	payload := map[string]json.RawMessage{}
	if len(h.cfg.Variables) > 0 {
		for _, name := range h.cfg.Variables {
			v, ok := t.Var(name)
			if !ok {
				// Listed but not set: the reader sees the key with null.
				payload[name] = json.RawMessage("null")
				continue
			}
			b, err := v.JSON()
			if err != nil {
				return "", nil, fmt.Errorf("process variable %q (result.variables): %w", name, err)
			}
			payload[name] = b
		}
	} else {
		for name, v := range t.Variables {
			if name == h.cfg.CorrelationVariable || name == h.cfg.ErrorVariable {
				continue
			}
			b, err := v.JSON()
			if err != nil {
				return "", nil, fmt.Errorf("process variable %q (result payload): %w", name, err)
			}
			payload[name] = b
		}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", nil, fmt.Errorf("result payload: %w", err)
	}
	return repo.StatusDone, b, nil
}

// storeError classifies a store error: a body the store refuses (not JSON, too large, bad id,
// an id the table cannot hold beside one differing only in case) never gets better, so it is
// an incident; anything else (database down) is retried.
func storeError(status repo.Status, err error) error {
	what := "payload"
	if status == repo.StatusError {
		what = "error body"
	}
	switch {
	case errors.Is(err, repo.ErrInvalidJSON), errors.Is(err, repo.ErrTooLarge), errors.Is(err, repo.ErrInvalidID), errors.Is(err, repo.ErrIDConflict):
		return topics.Permanent(fmt.Errorf("process_store refused the %s: %w", what, err))
	}
	return fmt.Errorf("process_store: write %s: %w", what, err)
}
