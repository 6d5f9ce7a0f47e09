package topics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	// Variables are the fetched variables by name: those visible from the task's execution
	// (its local variables, shadowing those of enclosing scopes, then the process instance's),
	// or its local ones only with the topic setting localVariables. A File's content is not
	// among them (see File).
	Variables map[string]Variable

	// files downloads File variables' content; nil for a Task not made by the runtime.
	files *fileSource
}

// fileSource is the engine connection File downloads use.
type fileSource struct {
	hc   *http.Client
	base string
}

// withFiles lets the task download File variables over hc from the REST root base.
func (t *Task) withFiles(hc *http.Client, base string) *Task {
	t.files = &fileSource{hc: hc, base: base}
	return t
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
	// ErrNullValue: the variable holds null (type Null, or a typed null).
	ErrNullValue = camunda.ErrNullValue
	// ErrFileTooLarge: a File variable's content exceeds the cap given to Task.File.
	ErrFileTooLarge = camunda.ErrFileTooLarge
)

// File is a File variable's content with its name and type.
type File = camunda.File

// DateLayout is the engine's REST date format; see camunda.DateLayout.
const DateLayout = camunda.DateLayout

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
	ShortVar   = camunda.ShortVar
	DateVar    = camunda.DateVar
	BytesVar   = camunda.BytesVar
	XMLVar     = camunda.XMLVar
	FileVar    = camunda.FileVar
	// ObjectJSONVar and RawObjectJSONVar make Object variables serialized as application/json.
	ObjectJSONVar    = camunda.ObjectJSONVar
	RawObjectJSONVar = camunda.RawObjectJSONVar
	// VariableFromJSON maps a JSON value to a typed variable by the HTTP API's rule.
	VariableFromJSON = camunda.VariableFromJSON
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
// A missing variable is an error wrapping ErrNoVariable; other types (Bytes, File, Xml: read
// them with Bytes, File, XML) and other Object formats (Java serialization, XML) wrap
// ErrVariableType.
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

// typed reads the named variable with one of Variable's accessors, naming the variable in the
// error (wrapping ErrNoVariable, ErrNullValue or ErrVariableType).
func typed[T any](t *Task, name string, get func(Variable) (T, error)) (T, error) {
	var zero T
	v, ok := t.Variables[name]
	if !ok {
		return zero, fmt.Errorf("variable %q: %w", name, ErrNoVariable)
	}
	out, err := get(v)
	if err != nil {
		return zero, fmt.Errorf("variable %q: %w", name, err)
	}
	return out, nil
}

// Text returns a String variable's text (String is the lenient reader of any type).
func (t *Task) Text(name string) (string, error) { return typed(t, name, Variable.Text) }

// Bool returns a Boolean variable.
func (t *Task) Bool(name string) (bool, error) { return typed(t, name, Variable.Bool) }

// Long returns a Short, Integer or Long variable exactly (no float64 on the way: a Long above
// 2^53 keeps every digit).
func (t *Task) Long(name string) (int64, error) { return typed(t, name, Variable.Long) }

// Double returns a Double variable, or a Short, Integer or Long one converted.
func (t *Task) Double(name string) (float64, error) { return typed(t, name, Variable.Double) }

// Date returns a Date variable's instant. The engine keeps instants, not offsets: the time
// comes in the engine's own zone whatever offset it was written with.
func (t *Task) Date(name string) (time.Time, error) { return typed(t, name, Variable.Date) }

// Bytes returns a Bytes variable's content.
func (t *Task) Bytes(name string) ([]byte, error) { return typed(t, name, Variable.Bytes) }

// XML returns an Xml variable's document text.
func (t *Task) XML(name string) (string, error) { return typed(t, name, Variable.XML) }

// File downloads a File variable's content (fetched tasks carry only its name and type),
// refusing content over maxBytes with an error wrapping ErrFileTooLarge; maxBytes <= 0 means
// no cap. Filename, MimeType and Encoding come from the variable's valueInfo, or else from the
// engine's answer. The content comes from the task's execution or its process instance (see
// camunda.DownloadFile); a handler downloading while the lock runs out gets ctx's error.
func (t *Task) File(ctx context.Context, name string, maxBytes int64) (File, error) {
	v, ok := t.Variables[name]
	if !ok {
		return File{}, fmt.Errorf("variable %q: %w", name, ErrNoVariable)
	}
	filename, mimeType, encoding, err := v.FileInfo()
	if err != nil {
		return File{}, fmt.Errorf("variable %q: %w", name, err)
	}
	if t.files == nil {
		return File{}, fmt.Errorf("variable %q: this task has no engine connection to download a file (only tasks from the runtime have one)", name)
	}
	f, err := camunda.DownloadFile(ctx, t.files.hc, t.files.base,
		camunda.FileRef{ExecutionID: t.ExecutionID, ProcessInstanceID: t.ProcessInstanceID, Name: name}, maxBytes)
	if err != nil {
		return File{}, err
	}
	if filename != "" {
		f.Filename = filename
	}
	if mimeType != "" {
		f.MimeType = mimeType
	}
	if encoding != "" {
		f.Encoding = encoding
	}
	return f, nil
}
