package camunda

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Variable is a Camunda typed value as the REST API spells it. Value is kept raw so a value
// can be forwarded to the engine unchanged.
type Variable struct {
	// Type is Camunda's type name: String, Json, Object, Integer, Long, Double, Boolean,
	// Null, Date, ...
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
	// ValueInfo carries e.g. objectTypeName and serializationDataFormat for Object values.
	ValueInfo map[string]any `json:"valueInfo,omitempty"`
}

// Variables is a set of variables to send with a completion, a BPMN error or a failure.
type Variables map[string]Variable

// Errors from the variable accessors, for errors.Is.
var (
	// ErrNoVariable: the task has no variable of that name (it was not fetched or not set).
	ErrNoVariable = errors.New("no such variable")
	// ErrVariableType: the variable's type or serialization cannot be read as asked.
	ErrVariableType = errors.New("unsupported variable type")
	// ErrNullValue: the variable exists but holds null (type Null, or a typed null).
	ErrNullValue = errors.New("variable is null")
)

// IsNull reports whether the value is null (type Null, or no value).
func (v Variable) IsNull() bool {
	return v.Type == "Null" || len(v.Value) == 0 || string(bytes.TrimSpace(v.Value)) == "null"
}

// JSON converts the value to JSON text; see topics.Task.JSON for the rules.
func (v Variable) JSON() (json.RawMessage, error) {
	if v.IsNull() {
		return json.RawMessage("null"), nil
	}
	switch v.Type {
	case "Json":
		return stringHeldJSON(v.Value, v.Type)
	case "Object":
		format, _ := v.ValueInfo["serializationDataFormat"].(string)
		if format != "application/json" {
			return nil, fmt.Errorf("%w: Object with serializationDataFormat %q (only application/json)", ErrVariableType, format)
		}
		return stringHeldJSON(v.Value, v.Type)
	case "String":
		var s string
		if err := json.Unmarshal(v.Value, &s); err != nil {
			return nil, fmt.Errorf("%w: String value is not a JSON string: %w", ErrVariableType, err)
		}
		trimmed := bytes.TrimSpace([]byte(s))
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
			return json.RawMessage(trimmed), nil
		}
		return json.RawMessage(v.Value), nil
	case "Integer", "Long", "Short", "Double", "Boolean", "Date":
		if !json.Valid(v.Value) {
			return nil, fmt.Errorf("%w: %s value is not valid JSON", ErrVariableType, v.Type)
		}
		return json.RawMessage(v.Value), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrVariableType, v.Type)
}

// stringHeldJSON decodes a JSON document the engine sends inside a JSON string (Json and
// serialized Object values). Engines configured to deserialize may send the document itself;
// that is accepted too.
func stringHeldJSON(raw json.RawMessage, typ string) (json.RawMessage, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		if json.Valid(raw) {
			return raw, nil
		}
		return nil, fmt.Errorf("%w: %s value is neither a string nor JSON", ErrVariableType, typ)
	}
	doc := bytes.TrimSpace([]byte(s))
	if !json.Valid(doc) {
		return nil, fmt.Errorf("%w: %s value holds invalid JSON", ErrVariableType, typ)
	}
	return json.RawMessage(doc), nil
}

// StringVar is a String variable.
func StringVar(s string) Variable {
	b, _ := json.Marshal(s)
	return Variable{Type: "String", Value: b}
}

// BoolVar is a Boolean variable.
func BoolVar(b bool) Variable {
	return Variable{Type: "Boolean", Value: json.RawMessage(strconv.FormatBool(b))}
}

// LongVar is a Long variable.
func LongVar(n int64) Variable {
	return Variable{Type: "Long", Value: json.RawMessage(strconv.FormatInt(n, 10))}
}

// IntegerVar is an Integer (32-bit) variable.
func IntegerVar(n int32) Variable {
	return Variable{Type: "Integer", Value: json.RawMessage(strconv.FormatInt(int64(n), 10))}
}

// DoubleVar is a Double variable.
func DoubleVar(f float64) Variable {
	b, _ := json.Marshal(f)
	return Variable{Type: "Double", Value: b}
}

// NullVar is a Null variable (clears a value).
func NullVar() Variable { return Variable{Type: "Null", Value: json.RawMessage("null")} }

// RawJSONVar is a Json variable holding doc, which must be valid JSON. Json variables need the
// engine's Spin plugin; BPMN expressions read them with S(...) or as a Spin JSON node.
func RawJSONVar(doc json.RawMessage) (Variable, error) {
	if !json.Valid(doc) {
		return Variable{}, fmt.Errorf("json variable: %w", errInvalidJSON)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return Variable{}, fmt.Errorf("json variable: %w", err)
	}
	b, _ := json.Marshal(compact.String())
	return Variable{Type: "Json", Value: b}, nil
}

// JSONVar is a Json variable holding v marshalled with encoding/json.
func JSONVar(v any) (Variable, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return Variable{}, fmt.Errorf("json variable: %w", err)
	}
	return RawJSONVar(doc)
}

var errInvalidJSON = errors.New("invalid JSON")
