package camunda

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
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
//     Boolean, Short, Integer, Long, Double, Date, Bytes, File, Json, Xml, Object, Null (or
//     with a lower-case first letter) and its value must suit the type; see
//     explicitVariable. To store an object
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

// typeNames maps the accepted type names to Camunda's spelling: the name itself or with a
// lower-case first letter (as the engine's REST API reads them).
var typeNames = func() map[string]string {
	m := map[string]string{}
	for _, t := range []string{TypeString, TypeBoolean, TypeShort, TypeInteger, TypeLong, TypeDouble, TypeDate,
		TypeBytes, TypeFile, TypeJSON, TypeXML, TypeObject, TypeNull} {
		m[t] = t
		m[strings.ToLower(t[:1])+t[1:]] = t
	}
	return m
}()

func knownTypes() string {
	seen := map[string]bool{}
	var names []string
	for _, t := range typeNames {
		if !seen[t] {
			seen[t] = true
			names = append(names, t)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// The patterns of the explicit form's values, the same as the OpenAPI document's (internal/httpapi/openapi.json, TypedVariable).
var (
	// datePattern: the engine's format (exactly 3 fraction digits, offset +hhmm) or RFC 3339
	// (0 to 9 fraction digits, Z or +hh:mm).
	datePattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{3}[+-]([01][0-9]|2[0-3])[0-5][0-9]|(\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$`)
	// base64Pattern: standard base64 with padding, no line breaks.
	base64Pattern = regexp.MustCompile(`^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`)
)

// explicitVariable reads {"type": T, "value": V, "valueInfo": {...}}. T is a type name as
// Camunda spells it, or with a lower-case first letter. V by type:
//
//   - String: a string; Boolean: true or false; Double: a number;
//   - Short, Integer, Long: an integral number within the type's range (2, 2.0 and 2e0 alike);
//   - Date: the engine's format (2026-01-02T15:04:05.000+0530) or RFC 3339
//     (2026-01-02T15:04:05+05:30, converted), a real calendar date;
//   - Bytes: standard base64 with padding;
//   - File: standard base64, with valueInfo.filename (required), mimeType and encoding;
//   - Json: the document itself, any JSON value (a string is a JSON string document);
//   - Xml: a string, the document's text (the engine stores it as is; Spin parses it when
//     read);
//   - Object: the document itself (serialized as JSON text), with valueInfo.objectTypeName (the
//     Java type) and serializationDataFormat application/json (the default and the only one);
//   - Null: null or absent.
//
// V null or absent is a typed null (not for File). valueInfo is read for Object and File; for
// other types it must be absent, null or {}.
func explicitVariable(m map[string]json.RawMessage) (Variable, error) {
	var typeName string
	if err := json.Unmarshal(m["type"], &typeName); err != nil {
		return Variable{}, fmt.Errorf(`"type" must be a string naming one of %s`, knownTypes())
	}
	typ, ok := typeNames[typeName]
	if !ok {
		return Variable{}, fmt.Errorf(`unknown type %q: use one of %s (an object with "type" and only "value"/"valueInfo" besides is the explicit form; to store such an object as JSON, send {"type":"Json","value":{...}})`, truncatedString(typeName), knownTypes())
	}
	var info map[string]json.RawMessage
	if raw, ok := m["valueInfo"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &info); err != nil {
			return Variable{}, fmt.Errorf(`type %s: "valueInfo" must be a JSON object`, typ)
		}
		if len(info) > 0 && typ != TypeObject && typ != TypeFile {
			return Variable{}, fmt.Errorf(`type %s: "valueInfo" is only read for Object and File variables: leave it out`, typ)
		}
	}
	value := json.RawMessage(bytes.TrimSpace(m["value"]))
	null := len(value) == 0 || isNull(value)
	switch {
	case typ == TypeNull && null:
		return NullVar(), nil
	case typ == TypeNull:
		return Variable{}, errors.New(`type Null: "value" must be null or absent`)
	case typ == TypeObject:
		return objectVariable(value, null, info)
	case typ == TypeFile:
		return fileVariable(value, null, info)
	case null:
		return Variable{Type: typ, Value: json.RawMessage("null")}, nil
	}
	switch typ {
	case TypeString:
		if value[0] != '"' {
			return Variable{}, errors.New(`type String: "value" must be a JSON string`)
		}
		return stringVariable(value)
	case TypeBoolean:
		if b := string(value); b != "true" && b != "false" {
			return Variable{}, errors.New(`type Boolean: "value" must be true or false`)
		}
		return Variable{Type: TypeBoolean, Value: json.RawMessage(string(value))}, nil
	case TypeShort, TypeInteger, TypeLong:
		return integerVariable(typ, value)
	case TypeDouble:
		return doubleVariable(value)
	case TypeDate:
		var s string
		if err := json.Unmarshal(value, &s); err != nil || !datePattern.MatchString(s) {
			return Variable{}, fmt.Errorf(`type Date: "value" must be a string in the engine's format ("2026-01-02T15:04:05.000+0530") or RFC 3339 ("2026-01-02T15:04:05+05:30"): got %s`, truncated(value))
		}
		d, err := ParseDate(s)
		if err != nil {
			return Variable{}, fmt.Errorf("type Date: %q is not a calendar date (a day past the month's end?)", s)
		}
		return DateVar(d), nil
	case TypeBytes:
		if !isBase64(value) {
			return Variable{}, errors.New(`type Bytes: "value" must be a standard base64 string (RFC 4648, with padding, no line breaks)`)
		}
		return Variable{Type: TypeBytes, Value: json.RawMessage(string(value))}, nil
	case TypeJSON:
		return RawJSONVar(value)
	case TypeXML:
		if value[0] != '"' {
			return Variable{}, errors.New(`type Xml: "value" must be a string holding an XML document`)
		}
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			return Variable{}, err
		}
		return Variable{Type: TypeXML, Value: jsonString(s)}, nil
	}
	return Variable{}, fmt.Errorf("type %s is not supported", typ)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func isBase64(value json.RawMessage) bool {
	var s string
	if json.Unmarshal(value, &s) != nil || !base64Pattern.MatchString(s) {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// integerVariable accepts any integral number within typ's range, as JSON Schema's "integer"
// does (2.0 and 2e0 are 2), computed exactly (big.Rat, never float64).
func integerVariable(typ string, value json.RawMessage) (Variable, error) {
	bad := fmt.Errorf(`type %s: "value" must be an integral number within %s: got %s`, typ, rangeOf(typ), truncated(value))
	if c := value[0]; c != '-' && (c < '0' || c > '9') {
		return Variable{}, bad
	}
	if len(value) > 400 {
		return Variable{}, bad // no exponent arithmetic on huge input
	}
	r, ok := new(big.Rat).SetString(string(value))
	if !ok || !r.IsInt() || !r.Num().IsInt64() || !inRange(typ, r.Num().Int64()) {
		return Variable{}, bad
	}
	return Variable{Type: typ, Value: json.RawMessage(strconv.FormatInt(r.Num().Int64(), 10))}, nil
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
	if c := value[0]; c != '-' && (c < '0' || c > '9') {
		return Variable{}, errors.New(`type Double: "value" must be a JSON number`)
	}
	f, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		return Variable{}, fmt.Errorf(`type Double: "value" %s is out of range for a 64-bit float`, truncated(value))
	}
	return DoubleVar(f), nil
}

// infoStrings reads valueInfo members that must be strings.
func infoString(info map[string]json.RawMessage, key, typ string) (string, bool, error) {
	raw, ok := info[key]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf(`type %s: valueInfo %q must be a string`, typ, key)
	}
	return s, true, nil
}

func objectVariable(value json.RawMessage, null bool, info map[string]json.RawMessage) (Variable, error) {
	typeName, _, err := infoString(info, InfoObjectTypeName, TypeObject)
	if err != nil {
		return Variable{}, err
	}
	if strings.TrimSpace(typeName) == "" {
		return Variable{}, errors.New(`type Object: "valueInfo" needs "objectTypeName", the Java type the JSON deserializes into (e.g. "java.util.HashMap")`)
	}
	if format, ok, err := infoString(info, InfoSerializationDataFormat, TypeObject); err != nil {
		return Variable{}, err
	} else if ok && format != FormatJSON {
		return Variable{}, fmt.Errorf(`type Object: serializationDataFormat %q is not supported: only %q`, truncatedString(format), FormatJSON)
	}
	for k := range info {
		if k != InfoObjectTypeName && k != InfoSerializationDataFormat {
			return Variable{}, fmt.Errorf(`type Object: valueInfo member %q is not read: use only objectTypeName and serializationDataFormat`, truncatedString(k))
		}
	}
	if null {
		return Variable{Type: TypeObject, Value: json.RawMessage("null"),
			ValueInfo: map[string]any{InfoObjectTypeName: typeName, InfoSerializationDataFormat: FormatJSON}}, nil
	}
	return RawObjectJSONVar(typeName, value)
}

func fileVariable(value json.RawMessage, null bool, info map[string]json.RawMessage) (Variable, error) {
	out := map[string]any{}
	for k := range info {
		switch k {
		case InfoFilename, InfoMimeType, "mimetype", InfoEncoding:
			s, _, err := infoString(info, k, TypeFile)
			if err != nil {
				return Variable{}, err
			}
			if k == "mimetype" {
				k = InfoMimeType
			}
			out[k] = s
		default:
			return Variable{}, fmt.Errorf(`type File: valueInfo member %q is not read: use filename, mimeType and encoding`, truncatedString(k))
		}
	}
	if name, _ := out[InfoFilename].(string); name == "" {
		return Variable{}, errors.New(`type File: "valueInfo" needs "filename" (and may have "mimeType" and "encoding")`)
	}
	if null || !isBase64(value) {
		return Variable{}, errors.New(`type File: "value" must be the content as a standard base64 string (RFC 4648, with padding, no line breaks)`)
	}
	return Variable{Type: TypeFile, Value: json.RawMessage(string(value)), ValueInfo: out}, nil
}
