package result

import "fmt"

// What the handler does when no row has the correlation id (Options.OnMissingRow).
const (
	// MissingRowInsert creates the row finished, so a late reader finds it.
	MissingRowInsert = "insert"
	// MissingRowIgnore completes the task and writes nothing.
	MissingRowIgnore = "ignore"
	// MissingRowFail fails the task with retries 0: an incident for an operator.
	MissingRowFail = "fail"
)

// Defaults of Options, exported so that a caller (the daemon's configuration, a process
// package) can state them without repeating them.
const (
	// CorrelationVariableDefault is Options.CorrelationVariable when unset.
	CorrelationVariableDefault = "correlationId"
	// OnMissingRowDefault is Options.OnMissingRow when unset.
	OnMissingRowDefault = MissingRowInsert
)

// Options says how the handler reads a process's result and where it writes it. It belongs
// to this package; the daemon maps a topic's result section onto it and hands it over as the
// topic's topics.Topic.HandlerOptions. Zero fields take their defaults (WithDefaults).
type Options struct {
	// CorrelationVariable is the process variable holding the process_store id. Defaults
	// to CorrelationVariableDefault (correlationId).
	CorrelationVariable string
	// Variables are copied into the DONE payload (a JSON object keyed by variable name);
	// empty copies every fetched variable except the correlation and error variables.
	Variables []string
	// ErrorVariable, when set and non-null on the task, makes the row ERROR with its value;
	// "" means no error variable.
	ErrorVariable string
	// OnMissingRow is what to do when no row has the correlation id: MissingRowInsert,
	// MissingRowIgnore or MissingRowFail. Defaults to OnMissingRowDefault (insert).
	OnMissingRow string
}

// WithDefaults returns a copy of o with every unset (zero) field set to its default.
func (o Options) WithDefaults() Options {
	if o.CorrelationVariable == "" {
		o.CorrelationVariable = CorrelationVariableDefault
	}
	if o.OnMissingRow == "" {
		o.OnMissingRow = OnMissingRowDefault
	}
	return o
}

// validate reports the first field that cannot work, naming it. It expects WithDefaults to
// have run.
func (o Options) validate() error {
	switch o.OnMissingRow {
	case MissingRowInsert, MissingRowIgnore, MissingRowFail:
		return nil
	}
	return fmt.Errorf("result: Options.OnMissingRow %q: must be insert, ignore or fail", o.OnMissingRow)
}
