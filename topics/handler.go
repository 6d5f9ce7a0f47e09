package topics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Handler works one external task. Its outcome is a value or a typed error, never a flag:
//
//   - (Complete{...}, nil): complete the task, sending the Complete's variables (a zero
//     Complete completes with none);
//   - *BPMNError: throw a BPMN error the process model can catch (a boundary error event);
//   - *Failure: report a failure, with its overrides (Retries 0 makes an incident at once);
//   - any other error: report a failure; the engine retries after the topic's retryBackoff
//     until topic.retries attempts are spent, then raises an incident.
//
// Errors are matched with errors.As, so they may be wrapped. A panic is recovered and
// reported as a failure with retries, with the stack in the error details.
//
// ctx is cancelled when the task's lock is lost (context.Cause is ErrLockLost) or when the
// runtime's shutdown timeout runs out; a handler should return promptly then (its outcome is
// not reported; a task cancelled by shutdown is unlocked for another worker).
type Handler interface {
	Handle(ctx context.Context, t *Task) (Complete, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, t *Task) (Complete, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, t *Task) (Complete, error) { return f(ctx, t) }

// Complete is a successful outcome: the variables to set on completion.
type Complete struct {
	// Variables are set in the process instance (the task's scope hierarchy).
	Variables Variables
	// LocalVariables are set on the task's execution only.
	LocalVariables Variables
}

// BPMNError is a business error thrown into the process: the engine looks for a boundary or
// event-subprocess error event catching Code. No catcher means the error ends the process
// instance silently (Camunda's rule), so models must catch every code they throw.
type BPMNError struct {
	Code    string
	Message string
	// Variables are set in the scope of the catching event (reachable from its output
	// mappings and the following activities).
	Variables Variables
}

func (e *BPMNError) Error() string {
	if e.Message == "" {
		return "bpmn error " + e.Code
	}
	return fmt.Sprintf("bpmn error %s: %s", e.Code, e.Message)
}

// Failure is a technical failure with explicit settings. Any error a handler returns is a
// failure; return a *Failure only to override the defaults.
type Failure struct {
	// Err is the cause; its text becomes errorMessage (cut at 666 characters) unless Message
	// is set.
	Err error
	// Message replaces Err's text as errorMessage (what Cockpit shows in the incident list).
	Message string
	// Retries overrides the remaining retries sent: 0 raises an incident at once (use it for
	// input that will never become valid). nil applies the topic's retries.
	Retries *int
	// RetryTimeout overrides the delay before the engine offers the task again.
	RetryTimeout *time.Duration
	// Details replaces the error details (by default the full error text).
	Details string
	// Variables and LocalVariables are set along with the failure.
	Variables      Variables
	LocalVariables Variables
}

func (f *Failure) Error() string {
	switch {
	case f.Message != "" && f.Err != nil:
		return f.Message + ": " + f.Err.Error()
	case f.Message != "":
		return f.Message
	case f.Err != nil:
		return f.Err.Error()
	}
	return "failure"
}

func (f *Failure) Unwrap() error { return f.Err }

// Permanent wraps err as a failure with no retries left: the engine raises an incident with
// err's text at once. For input that retrying cannot fix.
func Permanent(err error) error {
	zero := 0
	return &Failure{Err: err, Retries: &zero}
}

// Deps is what every handler factory may use. What only some handlers need (the
// process_store for topics/result) they take in their own constructors: see result.Factory.
type Deps struct {
	// Log is the daemon's logger; factories name a child for their handler.
	Log *zap.Logger
}

// Factory builds the handler for one subscribed topic from its settings (its own in
// topic.HandlerOptions). It runs once at
// start-up; an error stops the start-up.
type Factory func(topic Topic, deps Deps) (Handler, error)

// Registry maps handler names (Topic.Handler) to factories.
type Registry struct {
	mu        sync.Mutex
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a factory under name. Registering a name twice panics: it is a programming
// error found at the first start.
func (r *Registry) Register(name string, f Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" || f == nil {
		panic("topics: Register needs a name and a factory")
	}
	if _, dup := r.factories[name]; dup {
		panic(fmt.Sprintf("topics: handler %q registered twice", name))
	}
	r.factories[name] = f
}

// Names lists the registered handler names, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrUnknownHandler: a topic names a handler nobody registered.
var ErrUnknownHandler = errors.New("unknown handler")

// build makes one handler per subscription. It fails, naming the topic, when a handler is
// unknown, a topic is subscribed twice or a factory fails.
func (r *Registry) build(subs []Topic, deps Deps) (map[string]Handler, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Handler, len(subs))
	for i, s := range subs {
		if s.Name == "" {
			return nil, fmt.Errorf("topics[%d]: no topic name", i)
		}
		if _, dup := out[s.Name]; dup {
			return nil, fmt.Errorf("topics[%d]: topic %q is subscribed twice", i, s.Name)
		}
		name := s.Handler
		if name == "" {
			name = s.Name
		}
		f, ok := r.factories[name]
		if !ok {
			known := make([]string, 0, len(r.factories))
			for n := range r.factories {
				known = append(known, n)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("topics[%d] %q: handler %q: %w (registered: %v)", i, s.Name, name, ErrUnknownHandler, known)
		}
		h, err := f(s, deps)
		if err != nil {
			return nil, fmt.Errorf("topics[%d] %q: handler %q: %w", i, s.Name, name, err)
		}
		if h == nil {
			return nil, fmt.Errorf("topics[%d] %q: handler %q: factory returned no handler", i, s.Name, name)
		}
		out[s.Name] = h
	}
	return out, nil
}
