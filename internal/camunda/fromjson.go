package camunda

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// VariableFromJSON maps one JSON value to a typed variable. The rule (README "Process
// variables from JSON" says the same):
//
//   - a string is a String, true/false a Boolean, null a Null;
//   - a number written without fraction or exponent that fits 64 bits is a Long, kept exactly
//     (9223372036854775807 stays that); any other number is a Double;
//   - an array is a Json variable;
//   - an object is a Json variable, except the explicit form: an object that has a "type"
//     member and no members other than "value", "type" and "valueInfo", e.g.
//     {"type": "Date", "value": "2026-01-02T15:04:05+05:30"}. Its type is one of String,
//     Boolean, Short, Integer, Long, Double, Date, Bytes, File, Json, Xml, Object, Null (any
//     letter case) and its value must suit the type; see explicitVariable. To store an object
//     of that shape as Json, wrap it: {"type": "Json", "value": {"type": "car"}}.
//
// Errors say what is wrong and how to write it instead; they do not name the variable (the
// caller knows it).
func VariableFromJSON(raw json.RawMessage) (Variable, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return Variable{}, errors.New("empty value")
	}
	if !json.Valid(t) {
		return Variable{}, errors.New("not valid JSON")
	}
	switch t[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(t, &m); err != nil {
			return Variable{}, err
		}
		if isExplicit(m) {
			return explicitVariable(m)
		}
		return RawJSONVar(t)
	case '[':
		return RawJSONVar(t)
	case '"':
		return stringVariable(t)
	case 't', 'f':
		return Variable{Type: TypeBoolean, Value: json.RawMessage(string(t))}, nil
	case 'n':
		return NullVar(), nil
	}
	return numberVariable(t)
}

// isExplicit: the object has "type" and no member beyond value, type and valueInfo.
func isExplicit(m map[string]json.RawMessage) bool {
	if _, ok := m["type"]; !ok {
		return false
	}
	for k := range m {
		if k != "type" && k != "value" && k != "valueInfo" {
			return false
		}
	}
	return true
}

func stringVariable(t []byte) (Variable, error) {
	var s string
	if err := json.Unmarshal(t, &s); err != nil {
		return Variable{}, err
	}
	return StringVar(s), nil
}

// numberVariable: Long for an integer literal within int64, Double otherwise. The text is
// forwarded as written (re-spelled canonically), never through float64 for a Long.
func numberVariable(t []byte) (Variable, error) {
	if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
		return LongVar(n), nil
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		// Beyond float64 (1e999): ParseFloat says "value out of range".
		return Variable{}, fmt.Errorf("number %s cannot be stored: %w", truncated(t), err)
	}
	return DoubleVar(f), nil
}

// typeNames maps lower-case type names to Camunda's spelling (the engine itself accepts
// either first-letter case).
var typeNames = func() map[string]string {
	m := map[string]string{}
	for _, t := range []string{TypeString, TypeBoolean, TypeShort, TypeInteger, TypeLong, TypeDouble, TypeDate,
		TypeBytes, TypeFile, TypeJSON, TypeXML, TypeObject, TypeNull} {
		m[strings.ToLower(t)] = t
	}
	return m
}()

func knownTypes() string {
	names := make([]string, 0, len(typeNames))
	for _, t := range typeNames {
		names = append(names, t)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// explicitVariable reads {"type": T, "value": V, "valueInfo": {...}}:
//
//   - String: V a string; Boolean: true or false;
//   - Short, Integer, Long: an integer within the type's range, as a number or a string of
//     digits (for clients whose numbers are float64); Double: a number;
//   - Date: a string in the engine's format (2026-01-02T15:04:05.000+0530) or RFC 3339
//     (2026-01-02T15:04:05+05:30, converted);
//   - Bytes: standard base64;
//   - File: standard base64, with valueInfo.filename (required), mimeType and encoding;
//   - Json: any JSON value is the document; a string is the document's text (the engine's
//     own REST form) and must hold valid JSON;
//   - Xml: a string holding one well-formed XML element;
//   - Object: valueInfo.objectTypeName (the Java type) and serializationDataFormat
//     application/json (the default); V the JSON document, or a string holding its text;
//   - Null: V null or absent.
//
// A null V is a typed null for every type. valueInfo is honoured for Object and File and
// refused elsewhere.
func explicitVariable(m map[string]json.RawMessage) (Variable, error) {
	var typeName string
	if err := json.Unmarshal(m["type"], &typeName); err != nil {
		return Variable{}, fmt.Errorf(`"type" must be a string naming one of %s`, knownTypes())
	}
	typ, ok := typeNames[strings.ToLower(typeName)]
	if !ok {
		return Variable{}, fmt.Errorf(`unknown type %q: use one of %s (an object with "type" and only "value"/"valueInfo" besides is the explicit form; to store such an object as JSON, send {"type":"Json","value":{...}})`, truncatedString(typeName), knownTypes())
	}
	var info map[string]any
	if raw, ok := m["valueInfo"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &info); err != nil {
			return Variable{}, fmt.Errorf(`%s: "valueInfo" must be a JSON object`, typ)
		}
		if len(info) > 0 && typ != TypeObject && typ != TypeFile {
			return Variable{}, fmt.Errorf(`%s: "valueInfo" is only read for Object and File variables: leave it out`, typ)
		}
	}
	value, hasValue := m["value"]
	value = bytes.TrimSpace(value)
	if !hasValue || isNull(value) {
		if typ != TypeNull && typ != TypeObject && typ != TypeFile {
			return Variable{Type: typ, Value: json.RawMessage("null")}, nil
		}
		if typ == TypeNull {
			return NullVar(), nil
		}
	}
	switch typ {
	case TypeNull:
		return Variable{}, errors.New(`Null: "value" must be null or absent`)
	case TypeString:
		if value[0] != '"' {
			return Variable{}, errors.New(`String: "value" must be a JSON string`)
		}
		return stringVariable(value)
	case TypeBoolean:
		if b := string(value); b != "true" && b != "false" {
			return Variable{}, errors.New(`Boolean: "value" must be true or false`)
		}
		return Variable{Type: TypeBoolean, Value: json.RawMessage(string(value))}, nil
	case TypeShort, TypeInteger, TypeLong:
		return integerVariable(typ, value)
	case TypeDouble:
		return doubleVariable(value)
	case TypeDate:
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return Variable{}, errors.New(`Date: "value" must be a string such as "2026-01-02T15:04:05.000+0530" or "2026-01-02T15:04:05+05:30"`)
		}
		d, err := ParseDate(s)
		if err != nil {
			return Variable{}, fmt.Errorf("Date: %w", err)
		}
		return DateVar(d), nil
	case TypeBytes:
		if _, err := decodeBase64(value, TypeBytes); err != nil {
			return Variable{}, errors.New(`Bytes: "value" must be a standard base64 string (RFC 4648, with padding)`)
		}
		return Variable{Type: TypeBytes, Value: json.RawMessage(string(value))}, nil
	case TypeFile:
		return fileVariable(value, info)
	case TypeJSON:
		return jsonVariable(value)
	case TypeXML:
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return Variable{}, errors.New(`Xml: "value" must be a string holding an XML document`)
		}
		v, err := XMLVar(s)
		if err != nil {
			return Variable{}, fmt.Errorf("Xml: %w", errors.Unwrap(err))
		}
		return v, nil
	case TypeObject:
		return objectVariable(value, info)
	}
	return Variable{}, fmt.Errorf("type %s is not supported", typ)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func integerVariable(typ string, value json.RawMessage) (Variable, error) {
	text := string(value)
	if value[0] == '"' {
		_ = json.Unmarshal(value, &text)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || !inRange(typ, n) {
		return Variable{}, fmt.Errorf(`%s: "value" must be an integer within %s, written without fraction or exponent (a number, or a string of digits): got %s`, typ, rangeOf(typ), truncated(value))
	}
	return Variable{Type: typ, Value: json.RawMessage(strconv.FormatInt(n, 10))}, nil
}

func rangeOf(typ string) string {
	switch typ {
	case TypeShort:
		return "-32768..32767"
	case TypeInteger:
		return "-2147483648..2147483647"
	}
	return "-9223372036854775808..9223372036854775807"
}

func doubleVariable(value json.RawMessage) (Variable, error) {
	if value[0] == '"' || value[0] == '{' || value[0] == '[' || value[0] == 't' || value[0] == 'f' {
		return Variable{}, errors.New(`Double: "value" must be a JSON number`)
	}
	f, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		return Variable{}, fmt.Errorf(`Double: "value" %s is out of range for a 64-bit float`, truncated(value))
	}
	return DoubleVar(f), nil
}

// jsonVariable: a string is the document's text; anything else is the document.
func jsonVariable(value json.RawMessage) (Variable, error) {
	doc := value
	if value[0] == '"' {
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return Variable{}, err
		}
		if !json.Valid([]byte(s)) {
			return Variable{}, errors.New(`Json: a string "value" is the document's text and must be valid JSON (to store a JSON string, send the string itself, quoted inside: "\"text\"")`)
		}
		doc = json.RawMessage(s)
	}
	return RawJSONVar(doc)
}

func objectVariable(value json.RawMessage, info map[string]any) (Variable, error) {
	typeName, _ := info[InfoObjectTypeName].(string)
	if strings.TrimSpace(typeName) == "" {
		return Variable{}, errors.New(`Object: "valueInfo" needs "objectTypeName", the Java type the JSON deserializes into (e.g. "java.util.HashMap")`)
	}
	format := FormatJSON
	if f, ok := info[InfoSerializationDataFormat]; ok {
		s, _ := f.(string)
		if s != FormatJSON {
			return Variable{}, fmt.Errorf(`Object: serializationDataFormat %v is not supported: only %q`, f, FormatJSON)
		}
	}
	for k := range info {
		if k != InfoObjectTypeName && k != InfoSerializationDataFormat {
			return Variable{}, fmt.Errorf(`Object: valueInfo member %q is not read: use only objectTypeName and serializationDataFormat`, k)
		}
	}
	if len(value) == 0 || isNull(value) {
		return Variable{Type: TypeObject, Value: json.RawMessage("null"),
			ValueInfo: map[string]any{InfoObjectTypeName: typeName, InfoSerializationDataFormat: format}}, nil
	}
	doc := value
	if value[0] == '"' {
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return Variable{}, err
		}
		if !json.Valid([]byte(s)) {
			return Variable{}, errors.New(`Object: a string "value" is the serialized JSON text and must be valid JSON`)
		}
		doc = json.RawMessage(s)
	}
	return RawObjectJSONVar(typeName, doc)
}

func fileVariable(value json.RawMessage, info map[string]any) (Variable, error) {
	name, _ := info[InfoFilename].(string)
	if name == "" {
		return Variable{}, errors.New(`File: "valueInfo" needs "filename" (and may have "mimeType" and "encoding")`)
	}
	out := map[string]any{InfoFilename: name}
	for k, val := range info {
		switch k {
		case InfoFilename:
		case InfoMimeType, "mimetype", InfoEncoding:
			s, ok := val.(string)
			if !ok {
				return Variable{}, fmt.Errorf(`File: valueInfo %q must be a string`, k)
			}
			if k == "mimetype" {
				k = InfoMimeType
			}
			out[k] = s
		default:
			return Variable{}, fmt.Errorf(`File: valueInfo member %q is not read: use filename, mimeType and encoding`, k)
		}
	}
	if len(value) == 0 || isNull(value) {
		return Variable{}, errors.New(`File: "value" must be the content in standard base64`)
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil {
		return Variable{}, errors.New(`File: "value" must be the content as a standard base64 string`)
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		return Variable{}, errors.New(`File: "value" must be standard base64 (RFC 4648, with padding)`)
	}
	return Variable{Type: TypeFile, Value: json.RawMessage(string(value)), ValueInfo: out}, nil
}
