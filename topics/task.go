package topics

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

// Task is one external task fetched and locked by this worker. Handlers read it; the runtime
// owns the lock and reports the outcome.
type Task struct {
	ID                   string
	Topic                string
	WorkerID             string
	BusinessKey          string
	ProcessInstanceID    string
	ProcessDefinitionID  string
	ProcessDefinitionKey string
	ActivityID           string
	ActivityInstanceID   string
	ExecutionID          string
	// Retries is the engine's remaining retries: nil until the task failed once.
	Retries  *int
	Priority int64
	TenantID string
	// LockExpiration is when the engine's lock ends, as the engine reported it at fetch time
	// (extensions move it later).
	LockExpiration time.Time
	// ExtensionProperties are the activity's camunda:properties (topic setting
	// includeExtensionProperties).
	ExtensionProperties map[string]string
	// Variables are the fetched variables by name.
	Variables map[string]Variable
}

// Variable is a Camunda typed value as the REST API spells it (see camunda.Variable).
type Variable = camunda.Variable

// Variables is a set of variables to send with a completion, a BPMN error or a failure.
type Variables = camunda.Variables

// Errors from the variable accessors, for errors.Is.
var (
	// ErrNoVariable: the task has no variable of that name (it was not fetched or not set).
	ErrNoVariable = camunda.ErrNoVariable
	// ErrVariableType: the variable's type or serialization cannot be read as asked.
	ErrVariableType = camunda.ErrVariableType
)

// The variable constructors, for handlers.
var (
	StringVar  = camunda.StringVar
	BoolVar    = camunda.BoolVar
	LongVar    = camunda.LongVar
	IntegerVar = camunda.IntegerVar
	DoubleVar  = camunda.DoubleVar
	NullVar    = camunda.NullVar
	RawJSONVar = camunda.RawJSONVar
	JSONVar    = camunda.JSONVar
)

// Var returns the named variable as fetched.
func (t *Task) Var(name string) (Variable, bool) {
	v, ok := t.Variables[name]
	return v, ok
}

// String returns the named variable's text: a String (or Date) value as is, a number or
// boolean in its JSON spelling, a Json value as its JSON text, "" for Null or a missing
// variable. ok is false when the variable is missing or null.
func (t *Task) String(name string) (s string, ok bool) {
	v, found := t.Variables[name]
	if !found || v.IsNull() {
		return "", false
	}
	var str string
	if err := json.Unmarshal(v.Value, &str); err == nil {
		return str, true
	}
	return string(v.Value), true
}

// JSON returns the named variable as JSON text. It understands:
//   - Json: the document the value holds (the REST API sends it as a string);
//   - Object with valueInfo.serializationDataFormat application/json: its serialized form;
//   - String: a JSON object or array held in the string is returned as that document (the
//     Node service stored results this way); any other text becomes a JSON string;
//   - Integer, Long, Short, Double, Boolean: the value; Date: a JSON string;
//   - Null: null.
//
// A missing variable is an error wrapping ErrNoVariable; other Object formats (Java
// serialization, XML) wrap ErrVariableType.
func (t *Task) JSON(name string) (json.RawMessage, error) {
	v, ok := t.Variables[name]
	if !ok {
		return nil, fmt.Errorf("variable %q: %w", name, ErrNoVariable)
	}
	raw, err := v.JSON()
	if err != nil {
		return nil, fmt.Errorf("variable %q: %w", name, err)
	}
	return raw, nil
}
