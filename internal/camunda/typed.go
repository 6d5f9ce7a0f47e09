package camunda

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// DateLayout is the engine's default REST date format (Java's yyyy-MM-dd'T'HH:mm:ss.SSSZ), e.g.
// "2026-11-27T18:42:29.208+0530": not RFC 3339 (no colon in the offset), and the engine refuses
// RFC 3339 input. The engine stores a Date as an instant (java.util.Date) and writes it back in
// its own time zone: the instant survives a round trip, the offset does not.
const DateLayout = "2006-01-02T15:04:05.000-0700"

// Camunda's value type names, as the REST API spells them.
const (
	TypeString  = "String"
	TypeBoolean = "Boolean"
	TypeShort   = "Short"
	TypeInteger = "Integer"
	TypeLong    = "Long"
	TypeDouble  = "Double"
	TypeDate    = "Date"
	TypeBytes   = "Bytes"
	TypeFile    = "File"
	TypeJSON    = "Json"
	TypeXML     = "Xml"
	TypeObject  = "Object"
	TypeNull    = "Null"
)

// The valueInfo keys the engine reads and writes.
const (
	// InfoObjectTypeName is an Object's Java type name (required to set an Object).
	InfoObjectTypeName = "objectTypeName"
	// InfoSerializationDataFormat is an Object's serialization, e.g. application/json.
	InfoSerializationDataFormat = "serializationDataFormat"
	// InfoFilename, InfoMimeType and InfoEncoding describe a File.
	InfoFilename = "filename"
	InfoMimeType = "mimeType"
	InfoEncoding = "encoding"
)

// FormatJSON is the serializationDataFormat of Objects serialized as JSON (Spin's Jackson).
const FormatJSON = "application/json"

// ShortVar is a Short (16-bit) variable.
func ShortVar(n int16) Variable {
	return Variable{Type: TypeShort, Value: json.RawMessage(strconv.FormatInt(int64(n), 10))}
}

// DateVar is a Date variable: the instant t, written in the engine's format with t's offset.
// The engine keeps the instant only (see DateLayout).
func DateVar(t time.Time) Variable {
	b, _ := json.Marshal(t.Format(DateLayout))
	return Variable{Type: TypeDate, Value: b}
}

// BytesVar is a Bytes variable (a byte array; the REST API carries it as base64).
func BytesVar(b []byte) Variable {
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
	return Variable{Type: TypeBytes, Value: s}
}

// XMLVar is an Xml variable (Spin's XML type; the engine needs the Spin XML data format).
// doc must be one well-formed XML element, optionally with a prolog.
func XMLVar(doc string) (Variable, error) {
	if err := checkXML(doc); err != nil {
		return Variable{}, fmt.Errorf("xml variable: %w", err)
	}
	return Variable{Type: TypeXML, Value: jsonString(doc)}, nil
}

// jsonString is s as a JSON string without encoding/json's HTML escaping (<, >, & stay
// readable in markup).
func jsonString(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}

// ObjectJSONVar is an Object variable serialized as JSON (serializationDataFormat
// application/json) with Java type typeName: v marshalled with encoding/json. The engine stores
// the serialized form as is; Java code reading it deserializes it into typeName.
func ObjectJSONVar(typeName string, v any) (Variable, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return Variable{}, fmt.Errorf("object variable: %w", err)
	}
	return RawObjectJSONVar(typeName, doc)
}

// RawObjectJSONVar is ObjectJSONVar for a document already serialized; doc must be valid JSON.
func RawObjectJSONVar(typeName string, doc json.RawMessage) (Variable, error) {
	if strings.TrimSpace(typeName) == "" {
		return Variable{}, errors.New("object variable: objectTypeName is empty: name the Java type the JSON deserializes into, e.g. java.util.HashMap")
	}
	v, err := RawJSONVar(doc)
	if err != nil {
		return Variable{}, fmt.Errorf("object variable: %w", err)
	}
	v.Type = TypeObject
	v.ValueInfo = map[string]any{InfoObjectTypeName: typeName, InfoSerializationDataFormat: FormatJSON}
	return v, nil
}

// FileVar is a File variable: content with its file name (required) and MIME type (may be
// empty). Reading a File back needs a separate download (see DownloadFile): fetched tasks
// carry its name and type only.
func FileVar(filename, mimeType string, content []byte) (Variable, error) {
	if filename == "" {
		return Variable{}, errors.New("file variable: the file name is empty")
	}
	info := map[string]any{InfoFilename: filename}
	if mimeType != "" {
		info[InfoMimeType] = mimeType
	}
	v := BytesVar(content)
	v.Type, v.ValueInfo = TypeFile, info
	return v, nil
}

// nullErr is the accessors' error for a null value.
func (v Variable) nullErr(want string) error {
	return fmt.Errorf("%w: %s is null, want %s", ErrNullValue, typeOrNull(v.Type), want)
}

func typeOrNull(t string) string {
	if t == "" {
		return TypeNull
	}
	return t
}

func (v Variable) typeErr(want string) error {
	return fmt.Errorf("%w: the variable is %s, want %s", ErrVariableType, typeOrNull(v.Type), want)
}

// Text returns a String variable's text. Other types wrap ErrVariableType (the Task's String
// accessor is the lenient one); null wraps ErrNullValue.
func (v Variable) Text() (string, error) {
	if v.Type != TypeString {
		return "", v.typeErr(TypeString)
	}
	if v.IsNull() {
		return "", v.nullErr(TypeString)
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return "", fmt.Errorf("%w: String value is not a JSON string: %w", ErrVariableType, err)
	}
	return s, nil
}

// Bool returns a Boolean variable's value.
func (v Variable) Bool() (bool, error) {
	if v.Type != TypeBoolean {
		return false, v.typeErr(TypeBoolean)
	}
	if v.IsNull() {
		return false, v.nullErr(TypeBoolean)
	}
	b, err := strconv.ParseBool(string(bytes.TrimSpace(v.Value)))
	if err != nil {
		return false, fmt.Errorf("%w: Boolean value %s: %w", ErrVariableType, v.Value, err)
	}
	return b, nil
}

// Long returns a Short, Integer or Long variable's value, exactly (the JSON number is parsed
// as an integer, never through float64). Double wraps ErrVariableType: read it with Double.
func (v Variable) Long() (int64, error) {
	switch v.Type {
	case TypeShort, TypeInteger, TypeLong:
	default:
		return 0, v.typeErr("Short, Integer or Long")
	}
	if v.IsNull() {
		return 0, v.nullErr(v.Type)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v.Value)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s value %s is not an integer: %w", ErrVariableType, v.Type, truncated(v.Value), err)
	}
	return n, nil
}

// Double returns a Double variable's value, or a Short, Integer or Long one converted (a Long
// beyond 2^53 rounds: read it with Long).
func (v Variable) Double() (float64, error) {
	switch v.Type {
	case TypeShort, TypeInteger, TypeLong, TypeDouble:
	default:
		return 0, v.typeErr("Double (or Short, Integer, Long)")
	}
	if v.IsNull() {
		return 0, v.nullErr(v.Type)
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(v.Value)), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s value %s is not a number: %w", ErrVariableType, v.Type, truncated(v.Value), err)
	}
	return f, nil
}

// Date returns a Date variable's instant, in the offset the engine wrote (its own zone).
func (v Variable) Date() (time.Time, error) {
	if v.Type != TypeDate {
		return time.Time{}, v.typeErr(TypeDate)
	}
	if v.IsNull() {
		return time.Time{}, v.nullErr(TypeDate)
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return time.Time{}, fmt.Errorf("%w: Date value is not a JSON string: %w", ErrVariableType, err)
	}
	t, err := ParseDate(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrVariableType, err)
	}
	return t, nil
}

// ParseDate reads a date in the engine's format (DateLayout) or in RFC 3339.
func ParseDate(s string) (time.Time, error) {
	if t, err := time.Parse(DateLayout, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("date %q is neither in the engine's format (e.g. 2026-01-02T15:04:05.000+0530) nor RFC 3339 (e.g. 2026-01-02T15:04:05+05:30)", truncatedString(s))
}

// Bytes returns a Bytes variable's content (File content is not fetched with the task: see
// DownloadFile).
func (v Variable) Bytes() ([]byte, error) {
	if v.Type != TypeBytes {
		return nil, v.typeErr(TypeBytes)
	}
	if v.IsNull() {
		return nil, v.nullErr(TypeBytes)
	}
	return decodeBase64(v.Value, TypeBytes)
}

func decodeBase64(raw json.RawMessage, typ string) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: %s value is not a base64 string: %w", ErrVariableType, typ, err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s value is not standard base64: %w", ErrVariableType, typ, err)
	}
	return b, nil
}

// XML returns an Xml variable's document text.
func (v Variable) XML() (string, error) {
	if v.Type != TypeXML {
		return "", v.typeErr(TypeXML)
	}
	if v.IsNull() {
		return "", v.nullErr(TypeXML)
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return "", fmt.Errorf("%w: Xml value is not a JSON string: %w", ErrVariableType, err)
	}
	return s, nil
}

// ObjectTypeName is an Object's Java type name (valueInfo objectTypeName), "" for other types.
func (v Variable) ObjectTypeName() string {
	s, _ := v.ValueInfo[InfoObjectTypeName].(string)
	return s
}

// FileInfo is a File variable's name, MIME type and encoding (valueInfo); the content is
// downloaded separately (DownloadFile).
func (v Variable) FileInfo() (filename, mimeType, encoding string, err error) {
	if v.Type != TypeFile {
		return "", "", "", v.typeErr(TypeFile)
	}
	filename, _ = v.ValueInfo[InfoFilename].(string)
	mimeType, _ = v.ValueInfo[InfoMimeType].(string)
	if mimeType == "" {
		mimeType, _ = v.ValueInfo["mimetype"].(string)
	}
	encoding, _ = v.ValueInfo[InfoEncoding].(string)
	return filename, mimeType, encoding, nil
}

// checkXML accepts one well-formed root element, with an optional prolog, comments and
// processing instructions around it.
func checkXML(doc string) error {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	roots, depth := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("not well-formed XML: text outside the root element")
			}
		}
	}
	if roots != 1 {
		return fmt.Errorf("not well-formed XML: %d root elements, want exactly 1", roots)
	}
	return nil
}

func truncated(b []byte) string { return truncatedString(string(b)) }

func truncatedString(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// inRange reports whether n fits the integer type typ.
func inRange(typ string, n int64) bool {
	switch typ {
	case TypeShort:
		return n >= math.MinInt16 && n <= math.MaxInt16
	case TypeInteger:
		return n >= math.MinInt32 && n <= math.MaxInt32
	}
	return true
}
