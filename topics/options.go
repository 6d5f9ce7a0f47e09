package topics

import (
	"errors"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

// Defaults of Options, Topic and FailoverOptions, exported so that a caller (the daemon's
// configuration, a test, a benchmark) can state them without repeating the numbers.
const (
	// AsyncResponseTimeoutDefault is Options.AsyncResponseTimeout when unset.
	AsyncResponseTimeoutDefault = 20 * time.Second
	// RequestTimeoutDefault is Options.RequestTimeout when unset.
	RequestTimeoutDefault = 10 * time.Second
	// PollBackoffInitialDefault and PollBackoffMaxDefault are Options.PollBackoff when unset.
	PollBackoffInitialDefault = time.Second
	PollBackoffMaxDefault     = 30 * time.Second
	// ShutdownTimeoutDefault is Options.ShutdownTimeout when unset.
	ShutdownTimeoutDefault = 30 * time.Second
	// LockExtensionFractionDefault is Options.LockExtensionFraction when unset.
	LockExtensionFractionDefault = 0.5

	// LockDurationDefault is Topic.LockDuration when unset.
	LockDurationDefault = 30 * time.Second
	// MaxTasksDefault is Topic.MaxTasks when unset.
	MaxTasksDefault = 10
	// MaxParallelDefault is Topic.MaxParallel when unset.
	MaxParallelDefault = 10
	// RetriesDefault is Topic.Retries when unset.
	RetriesDefault = 3
	// RetryBackoffInitialDefault and RetryBackoffMaxDefault are Topic.RetryBackoff when unset.
	RetryBackoffInitialDefault = time.Second
	RetryBackoffMaxDefault     = time.Minute

	// HeartbeatIntervalDefault is FailoverOptions.HeartbeatInterval when unset.
	HeartbeatIntervalDefault = time.Second
	// DeadAfterDefault is FailoverOptions.DeadAfter when unset.
	DeadAfterDefault = 4 * time.Second
)

// Options configures the runtime (New), Deploy and the failover loop: how to reach the engine
// and how to poll it. It belongs to this package, not to the daemon's configuration, which
// maps its camunda section onto it. Zero fields take the defaults above (WithDefaults).
type Options struct {
	// Engine is the engine's REST root, login and TLS. Engine.Timeout is ignored: the
	// runtime derives its HTTP timeout from AsyncResponseTimeout.
	Engine camunda.Config
	// WorkerID is sent with every fetch-and-lock and report. Required: two replicas must
	// never share one.
	WorkerID string
	// TenantID is the tenant Deploy deploys for; "" deploys without a tenant.
	TenantID string
	// AsyncResponseTimeout is the long-poll time. Defaults to AsyncResponseTimeoutDefault
	// (20 s); zero would turn long polling off and poll in a tight loop.
	AsyncResponseTimeout time.Duration
	// RequestTimeout bounds every other REST call (complete, failure, extendLock, ...).
	// Defaults to RequestTimeoutDefault (10 s).
	RequestTimeout time.Duration
	// UsePriority and Sorting are request-wide in the REST API; a topic may override them,
	// in which case it gets a long poll of its own. Sorting is "" (engine order),
	// "createTime:asc" or "createTime:desc".
	UsePriority bool
	Sorting     string
	// PollBackoff is the wait after a failed poll: initial, doubling up to max, with
	// jitter. Defaults to PollBackoffInitialDefault (1 s) and PollBackoffMaxDefault (30 s).
	PollBackoff Backoff
	// ShutdownTimeout is how long running handlers may finish once Run's ctx is cancelled.
	// Defaults to ShutdownTimeoutDefault (30 s).
	ShutdownTimeout time.Duration
	// LockExtensionFraction: a handler still running after this fraction of its topic's
	// lockDuration gets its lock extended, again and again until it returns. From 0 to 1
	// exclusive; defaults to LockExtensionFractionDefault (0.5).
	LockExtensionFraction float64
}

// Backoff is a capped exponential backoff: Initial, doubling, capped at Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// withDefaults fills a zero Initial with initial and a zero Max with the larger of max and
// Initial.
func (b Backoff) withDefaults(initial, maxDefault time.Duration) Backoff {
	if b.Initial == 0 {
		b.Initial = initial
	}
	if b.Max == 0 {
		b.Max = max(maxDefault, b.Initial)
	}
	return b
}

func (b Backoff) validate(name string) error {
	if b.Initial <= 0 || b.Max < b.Initial {
		return fmt.Errorf("%s is %s..%s: want 0 < Initial <= Max", name, b.Initial, b.Max)
	}
	return nil
}

// WithDefaults returns a copy of o with every unset (zero) field set to its default.
func (o Options) WithDefaults() Options {
	if o.AsyncResponseTimeout == 0 {
		o.AsyncResponseTimeout = AsyncResponseTimeoutDefault
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = RequestTimeoutDefault
	}
	o.PollBackoff = o.PollBackoff.withDefaults(PollBackoffInitialDefault, PollBackoffMaxDefault)
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = ShutdownTimeoutDefault
	}
	if o.LockExtensionFraction == 0 {
		o.LockExtensionFraction = LockExtensionFractionDefault
	}
	return o
}

// validate reports the first field that cannot work, naming it. It expects WithDefaults to
// have run.
func (o Options) validate() error {
	switch {
	case o.Engine.URL == "":
		return errors.New("topics: Options.Engine.URL is empty: set the engine's REST root, e.g. http://localhost:8080/engine-rest")
	case o.WorkerID == "":
		return errors.New("topics: Options.WorkerID is empty: every replica needs a worker id of its own")
	case o.AsyncResponseTimeout < 0:
		return fmt.Errorf("topics: Options.AsyncResponseTimeout is %s: must be positive (0 means %s)", o.AsyncResponseTimeout, AsyncResponseTimeoutDefault)
	case o.RequestTimeout < 0:
		return fmt.Errorf("topics: Options.RequestTimeout is %s: must be positive (0 means %s)", o.RequestTimeout, RequestTimeoutDefault)
	case o.ShutdownTimeout < 0:
		return fmt.Errorf("topics: Options.ShutdownTimeout is %s: must be positive (0 means %s)", o.ShutdownTimeout, ShutdownTimeoutDefault)
	case !(o.LockExtensionFraction > 0 && o.LockExtensionFraction < 1): // NaN fails too
		return fmt.Errorf("topics: Options.LockExtensionFraction is %g: must be above 0 and below 1 (0 means %g)", o.LockExtensionFraction, LockExtensionFractionDefault)
	}
	if err := o.PollBackoff.validate("topics: Options.PollBackoff"); err != nil {
		return err
	}
	return nil
}

// Topic is one external-task subscription. The fetch filters are those of the REST API.
type Topic struct {
	// Name is the engine's topic name (case-sensitive). Required.
	Name string
	// Handler is the registered handler name (Registry.Register); "" means Name.
	Handler string
	// HandlerOptions are the handler's own settings, which its factory reads (the
	// topics/result handler takes a result.Options); nil for handlers without any.
	HandlerOptions any
	// LockDuration is how long a fetched task stays locked to this worker. Defaults to
	// LockDurationDefault (30 s).
	LockDuration time.Duration
	// MaxTasks caps how many tasks one fetch may lock for this topic (never more than free
	// handler slots). Defaults to MaxTasksDefault (10).
	MaxTasks int
	// MaxParallel is how many handlers of this topic run at once. Defaults to
	// MaxParallelDefault (10).
	MaxParallel int
	// Variables limits the variables fetched; empty fetches all.
	Variables []string
	// LocalVariables fetches only local variables.
	LocalVariables bool
	// BusinessKey, ProcessDefinitionKey(In), ProcessDefinitionVersionTag, TenantIDIn and
	// WithoutTenantID filter the tasks fetched, as in the REST API.
	BusinessKey                 string
	ProcessDefinitionKey        string
	ProcessDefinitionKeyIn      []string
	ProcessDefinitionVersionTag string
	TenantIDIn                  []string
	WithoutTenantID             bool
	// ProcessVariables: a task matches if any listed variable has the listed value (OR).
	ProcessVariables []VariableMatch
	// UsePriority and Sorting override Options' for this topic (nil: Options').
	UsePriority *bool
	Sorting     *string
	// IncludeExtensionProperties fetches the activity's extension properties.
	IncludeExtensionProperties bool
	// Retries is how many times a failing task is tried in all before the engine raises an
	// incident. Defaults to RetriesDefault (3).
	Retries int
	// RetryBackoff is the retryTimeout sent with failures: initial, doubling, capped at
	// max. Defaults to RetryBackoffInitialDefault (1 s) and RetryBackoffMaxDefault (1 min).
	RetryBackoff Backoff
}

// VariableMatch is one ProcessVariables filter entry.
type VariableMatch struct {
	Name  string
	Value any
}

// WithDefaults returns a copy of t with every unset (zero) field set to its default.
func (t Topic) WithDefaults() Topic {
	if t.LockDuration == 0 {
		t.LockDuration = LockDurationDefault
	}
	if t.MaxTasks == 0 {
		t.MaxTasks = MaxTasksDefault
	}
	if t.MaxParallel == 0 {
		t.MaxParallel = MaxParallelDefault
	}
	if t.Retries == 0 {
		t.Retries = RetriesDefault
	}
	t.RetryBackoff = t.RetryBackoff.withDefaults(RetryBackoffInitialDefault, RetryBackoffMaxDefault)
	return t
}

// validate reports the first field that cannot work, naming the topic and the field. It
// expects WithDefaults to have run.
func (t Topic) validate() error {
	switch {
	case t.Name == "":
		return errors.New("no topic name")
	case t.LockDuration <= 0:
		return fmt.Errorf("topic %q: LockDuration is %s: must be positive", t.Name, t.LockDuration)
	case t.MaxTasks < 0, t.MaxParallel < 0, t.Retries < 0:
		return fmt.Errorf("topic %q: MaxTasks %d, MaxParallel %d, Retries %d: must be positive (0 means the default)", t.Name, t.MaxTasks, t.MaxParallel, t.Retries)
	}
	return t.RetryBackoff.validate(fmt.Sprintf("topic %q: RetryBackoff", t.Name))
}

// FailoverOptions configures NewFailover. Zero fields take the defaults above.
type FailoverOptions struct {
	// HeartbeatInterval is how often a replica beats (and the survivor sweeps). Defaults
	// to HeartbeatIntervalDefault (1 s).
	HeartbeatInterval time.Duration
	// DeadAfter is how old a replica's last beat must be before its tasks are unlocked; at
	// least HeartbeatInterval. Defaults to DeadAfterDefault (4 s).
	DeadAfter time.Duration
}

// WithDefaults returns a copy of f with every unset (zero) field set to its default.
func (f FailoverOptions) WithDefaults() FailoverOptions {
	if f.HeartbeatInterval == 0 {
		f.HeartbeatInterval = HeartbeatIntervalDefault
	}
	if f.DeadAfter == 0 {
		f.DeadAfter = max(DeadAfterDefault, f.HeartbeatInterval)
	}
	return f
}

func (f FailoverOptions) validate() error {
	if f.HeartbeatInterval <= 0 || f.DeadAfter < f.HeartbeatInterval {
		return fmt.Errorf("topics: FailoverOptions HeartbeatInterval %s and DeadAfter %s: want 0 < HeartbeatInterval <= DeadAfter", f.HeartbeatInterval, f.DeadAfter)
	}
	return nil
}
