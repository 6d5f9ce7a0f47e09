package camunda

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzVariableFromJSON: any input either maps to a variable the engine can read (a known type,
// a value that is one JSON document, typed accessors that agree with it) or is refused with
// an error; it never panics. The seeds run in every go test.
func FuzzVariableFromJSON(f *testing.F) {
	for _, s := range []string{
		`"x"`, `true`, `null`, `0`, `-1`, `9007199254740993`, `9223372036854775807`, `9223372036854775808`, `1.5`, `1e999`,
		`{}`, `[]`, `{"a":1}`, `{"type":"car"}`, `{"type":"Long","value":"123"}`, `{"type":"Date","value":"2026-01-02T03:04:05+05:30"}`,
		`{"type":"Date","value":"2026-01-02T03:04:05.000+0530"}`, `{"type":"Xml","value":"<a/>"}`, `{"type":"Json","value":"{}"}`,
		`{"type":"Object","value":{},"valueInfo":{"objectTypeName":"X"}}`, `{"type":"File","value":"","valueInfo":{"filename":"f"}}`,
		`{"type":"Bytes","value":"AA=="}`, `{"type":"Short","value":32768}`, `{"type":"Null"}`, `{"type":null}`, ` `, `{`,
	} {
		f.Add([]byte(s))
	}
	known := map[string]bool{}
	for _, t := range typeNames {
		known[t] = true
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := VariableFromJSON(in)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without text")
			}
			return
		}
		if !known[v.Type] {
			t.Fatalf("type %q", v.Type)
		}
		if !json.Valid(v.Value) {
			t.Fatalf("value %q is not JSON", v.Value)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("cannot encode %+v: %v", v, err)
		}
		if v.IsNull() {
			return
		}
		switch v.Type {
		case TypeLong, TypeInteger, TypeShort:
			n, err := v.Long()
			if err != nil {
				t.Fatalf("%s %s unreadable: %v", v.Type, v.Value, err)
			}
			if strconv.FormatInt(n, 10) != string(v.Value) {
				t.Fatalf("%s %s reads back as %d", v.Type, v.Value, n)
			}
			if trimmed := bytes.TrimSpace(in); trimmed[0] != '{' {
				if want, err := strconv.ParseInt(string(trimmed), 10, 64); err != nil || want != n {
					t.Fatalf("plain number %s became %s", trimmed, v.Value)
				}
			}
		case TypeDouble:
			if _, err := v.Double(); err != nil {
				t.Fatalf("Double %s unreadable: %v", v.Value, err)
			}
		case TypeDate:
			if _, err := v.Date(); err != nil {
				t.Fatalf("Date %s unreadable: %v", v.Value, err)
			}
		case TypeBytes:
			if _, err := v.Bytes(); err != nil {
				t.Fatalf("Bytes %s unreadable: %v", v.Value, err)
			}
		case TypeXML:
			if _, err := v.XML(); err != nil {
				t.Fatalf("Xml %s unreadable: %v", v.Value, err)
			}
		case TypeJSON, TypeObject:
			if _, err := v.JSON(); err != nil {
				t.Fatalf("%s %s unreadable: %v", v.Type, v.Value, err)
			}
		case TypeString:
			if _, err := v.Text(); err != nil {
				t.Fatalf("String %s unreadable: %v", v.Value, err)
			}
		case TypeBoolean:
			if _, err := v.Bool(); err != nil {
				t.Fatalf("Boolean %s unreadable: %v", v.Value, err)
			}
		}
	})
}
