package camunda

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVariableFromJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in  string
		typ, want string         // want: the value as sent to the engine
		info      map[string]any // want valueInfo
	}{
		{"string", `"hello"`, "String", `"hello"`, nil},
		{"date-looking string stays String", `"2026-01-02T03:04:05+05:30"`, "String", `"2026-01-02T03:04:05+05:30"`, nil},
		{"true", `true`, "Boolean", `true`, nil},
		{"false", ` false `, "Boolean", `false`, nil},
		{"null", `null`, "Null", `null`, nil},
		{"small integer", `42`, "Long", `42`, nil},
		{"negative", `-7`, "Long", `-7`, nil},
		{"2^53+1 stays exact", `9007199254740993`, "Long", `9007199254740993`, nil},
		{"int64 max", `9223372036854775807`, "Long", `9223372036854775807`, nil},
		{"int64 min", `-9223372036854775808`, "Long", `-9223372036854775808`, nil},
		{"past int64 is Double", `9223372036854775808`, "Double", `9223372036854776000`, nil},
		{"fraction", `1.5`, "Double", `1.5`, nil},
		{"integral with fraction is Double", `2.0`, "Double", `2`, nil},
		{"exponent", `1e3`, "Double", `1000`, nil},
		{"object", `{"a": [1, 2]}`, "Json", `"{\"a\":[1,2]}"`, nil},
		{"array", `[1,"x"]`, "Json", `"[1,\"x\"]"`, nil},
		{"object with more members than the explicit form", `{"type":"car","wheels":4}`, "Json", `"{\"type\":\"car\",\"wheels\":4}"`, nil},
		{"object without type", `{"value":1}`, "Json", `"{\"value\":1}"`, nil},
		{"big long in an object keeps its digits", `{"n":9223372036854775807}`, "Json", `"{\"n\":9223372036854775807}"`, nil},

		{"explicit String", `{"type":"String","value":"x"}`, "String", `"x"`, nil},
		{"explicit lower case", `{"type":"long","value":5}`, "Long", `5`, nil},
		{"explicit Long int64 max", `{"type":"Long","value":9223372036854775807}`, "Long", `9223372036854775807`, nil},
		{"explicit Long written 2.0", `{"type":"Long","value":2.0}`, "Long", `2`, nil},
		{"explicit Long written 1e3", `{"type":"Long","value":1e3}`, "Long", `1000`, nil},
		{"explicit Long 2^53+1", `{"type":"Long","value":9007199254740993}`, "Long", `9007199254740993`, nil},
		{"explicit Integer", `{"type":"Integer","value":2147483647}`, "Integer", `2147483647`, nil},
		{"explicit Short", `{"type":"Short","value":-32768}`, "Short", `-32768`, nil},
		{"explicit Double", `{"type":"Double","value":3}`, "Double", `3`, nil},
		{"explicit Boolean", `{"type":"Boolean","value":true}`, "Boolean", `true`, nil},
		{"Date in the engine's format, +0530", `{"type":"Date","value":"2026-01-02T03:04:05.678+0530"}`, "Date", `"2026-01-02T03:04:05.678+0530"`, nil},
		{"Date RFC 3339 converted, offset kept", `{"type":"Date","value":"2026-01-02T03:04:05+05:30"}`, "Date", `"2026-01-02T03:04:05.000+0530"`, nil},
		{"Date RFC 3339 with millis", `{"type":"Date","value":"2026-01-02T03:04:05.678+05:30"}`, "Date", `"2026-01-02T03:04:05.678+0530"`, nil},
		{"Date RFC 3339 Z", `{"type":"Date","value":"2026-01-02T03:04:05.123456Z"}`, "Date", `"2026-01-02T03:04:05.123+0000"`, nil},
		{"Bytes", `{"type":"Bytes","value":"AAEC"}`, "Bytes", `"AAEC"`, nil},
		{"Json object value", `{"type":"Json","value":{"type":"car"}}`, "Json", `"{\"type\":\"car\"}"`, nil},
		{"Json string value is a string document", `{"type":"Json","value":"{\"a\": 1}"}`, "Json", `"\"{\\\"a\\\": 1}\""`, nil},
		{"Json scalar value", `{"type":"Json","value":5}`, "Json", `"5"`, nil},
		{"Xml is not parsed here", `{"type":"xml","value":"<a>"}`, "Xml", `"<a>"`, nil},
		{"Xml", `{"type":"Xml","value":"<?xml version=\"1.0\"?><a b=\"1\">t<c/></a>"}`, "Xml", `"<?xml version=\"1.0\"?><a b=\"1\">t<c/></a>"`, nil},
		{"Object document", `{"type":"Object","value":{"k":1},"valueInfo":{"objectTypeName":"com.example.Order","serializationDataFormat":"application/json"}}`,
			"Object", `"{\"k\":1}"`, map[string]any{"objectTypeName": "com.example.Order", "serializationDataFormat": "application/json"}},
		{"Object array, format defaulted", `{"type":"Object","value":[1],"valueInfo":{"objectTypeName":"java.util.ArrayList"}}`,
			"Object", `"[1]"`, map[string]any{"objectTypeName": "java.util.ArrayList", "serializationDataFormat": "application/json"}},
		{"File", `{"type":"File","value":"aGk=","valueInfo":{"filename":"a.txt","mimetype":"text/plain","encoding":"UTF-8"}}`,
			"File", `"aGk="`, map[string]any{"filename": "a.txt", "mimeType": "text/plain", "encoding": "UTF-8"}},
		{"explicit Null", `{"type":"Null"}`, "Null", `null`, nil},
		{"typed null", `{"type":"Long","value":null}`, "Long", `null`, nil},
		{"typed null without value", `{"type":"String"}`, "String", `null`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := VariableFromJSON(json.RawMessage(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.typ, v.Type)
			assert.Equal(t, tc.want, string(v.Value))
			if tc.info == nil {
				assert.Empty(t, v.ValueInfo)
			} else {
				assert.Equal(t, tc.info, v.ValueInfo)
			}
			// What is sent must be one JSON document the engine can read.
			b, err := json.Marshal(v)
			require.NoError(t, err)
			require.True(t, json.Valid(b))
		})
	}
}

func TestVariableFromJSONRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"empty", ``, "empty value"},
		{"not JSON", `{`, "not valid JSON"},
		{"unknown type", `{"type":"car","value":1}`, `unknown type "car": use one of Boolean, Bytes, Date`},
		{"type not a string", `{"type":5}`, `"type" must be a string`},
		{"String with a number", `{"type":"String","value":5}`, "type String: \"value\" must be a JSON string"},
		{"Boolean with a string", `{"type":"Boolean","value":"true"}`, "type Boolean: \"value\" must be true or false"},
		{"Long with a fraction", `{"type":"Long","value":1.5}`, "type Long: \"value\" must be an integral number within -9223372036854775808..9223372036854775807: got 1.5"},
		{"Long past int64", `{"type":"Long","value":9223372036854775808}`, "type Long: \"value\" must be an integral number"},
		{"Integer past int32", `{"type":"Integer","value":2147483648}`, "type Integer: \"value\" must be an integral number within -2147483648..2147483647"},
		{"Short past int16", `{"type":"Short","value":40000}`, "type Short: \"value\" must be an integral number within -32768..32767"},
		{"Long as a string", `{"type":"Long","value":"5"}`, "type Long: \"value\" must be an integral number"},
		{"Long huge exponent", `{"type":"Long","value":1e400}`, "type Long: \"value\" must be an integral number"},
		{"type in capitals", `{"type":"LONG","value":5}`, "unknown type \"LONG\""},
		{"Double with a string", `{"type":"Double","value":"1.5"}`, "type Double: \"value\" must be a JSON number"},
		{"Double overflow", `{"type":"Double","value":1e999}`, "out of range"},
		{"plain number overflow", `1e999`, "cannot be stored"},
		{"Date garbage", `{"type":"Date","value":"yesterday"}`, `type Date: "value" must be a string in the engine's format ("2026-01-02T15:04:05.000+0530") or RFC 3339`},
		{"Date without offset", `{"type":"Date","value":"2026-01-02T03:04:05"}`, "type Date: \"value\" must be"},
		{"Date not in the calendar", `{"type":"Date","value":"2026-02-30T03:04:05Z"}`, `type Date: "2026-02-30T03:04:05Z" is not a calendar date`},
		{"Date offset +hhmm without millis", `{"type":"Date","value":"2026-01-02T03:04:05+0530"}`, "type Date: \"value\" must be"},
		{"Date a number", `{"type":"Date","value":1700000000000}`, "type Date: \"value\" must be a string"},
		{"Bytes not base64", `{"type":"Bytes","value":"***"}`, "type Bytes: \"value\" must be a standard base64 string"},
		{"Xml not a string", `{"type":"Xml","value":{"a":1}}`, "type Xml: \"value\" must be a string"},
		{"Object without type name", `{"type":"Object","value":{}}`, "type Object: \"valueInfo\" needs \"objectTypeName\""},
		{"Object Java serialization", `{"type":"Object","value":"rO0","valueInfo":{"objectTypeName":"X","serializationDataFormat":"application/x-java-serialized-object"}}`, `serializationDataFormat "application/x-java-serialized-object" is not supported`},
		{"Object type name blank", `{"type":"Object","value":{},"valueInfo":{"objectTypeName":" "}}`, "type Object: \"valueInfo\" needs \"objectTypeName\""},
		{"Object type name not a string", `{"type":"Object","value":{},"valueInfo":{"objectTypeName":1}}`, "type Object: valueInfo \"objectTypeName\" must be a string"},
		{"Bytes with a line break", `{"type":"Bytes","value":"AAEC\nAAEC"}`, "type Bytes: \"value\" must be a standard base64 string"},
		{"Bytes without padding", `{"type":"Bytes","value":"AAE"}`, "type Bytes: \"value\" must be a standard base64 string"},
		{"File without name", `{"type":"File","value":"aGk="}`, "type File: \"valueInfo\" needs \"filename\""},
		{"File not base64", `{"type":"File","value":"%%","valueInfo":{"filename":"a"}}`, "type File: \"value\" must be the content as a standard base64 string"},
		{"File without content", `{"type":"File","valueInfo":{"filename":"a"}}`, "type File: \"value\" must be the content"},
		{"valueInfo on a String", `{"type":"String","value":"x","valueInfo":{"a":1}}`, "type String: \"valueInfo\" is only read for Object and File"},
		{"valueInfo not an object", `{"type":"Object","value":{},"valueInfo":[1]}`, "\"valueInfo\" must be a JSON object"},
		{"Null with a value", `{"type":"Null","value":1}`, "type Null: \"value\" must be null or absent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VariableFromJSON(json.RawMessage(tc.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	ist := time.FixedZone("IST", 5*3600+30*60)
	when := time.Date(2026, 1, 2, 3, 4, 5, 678e6, ist)

	n, err := LongVar(math.MaxInt64).Long()
	require.NoError(t, err)
	assert.Equal(t, int64(math.MaxInt64), n)
	n, err = Variable{Type: "Long", Value: json.RawMessage(`9007199254740993`)}.Long()
	require.NoError(t, err)
	assert.Equal(t, int64(1<<53+1), n, "no float64 on the way")
	n, err = ShortVar(-3).Long()
	require.NoError(t, err)
	assert.Equal(t, int64(-3), n)
	n, err = IntegerVar(math.MinInt32).Long()
	require.NoError(t, err)
	assert.Equal(t, int64(math.MinInt32), n)

	f, err := DoubleVar(0.1).Double()
	require.NoError(t, err)
	assert.Equal(t, 0.1, f)
	f, err = LongVar(3).Double()
	require.NoError(t, err)
	assert.Equal(t, 3.0, f)

	dv := DateVar(when)
	assert.Equal(t, `"2026-01-02T03:04:05.678+0530"`, string(dv.Value))
	d, err := dv.Date()
	require.NoError(t, err)
	assert.True(t, d.Equal(when))
	_, off := d.Zone()
	assert.Equal(t, 5*3600+30*60, off)
	// As the engine writes it back: same instant, its own zone.
	d, err = Variable{Type: "Date", Value: json.RawMessage(`"2026-01-01T21:34:05.678+0000"`)}.Date()
	require.NoError(t, err)
	assert.True(t, d.Equal(when))

	b, err := BytesVar([]byte{0, 1, 2, 255}).Bytes()
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 1, 2, 255}, b)

	xv, err := XMLVar(`<a b="1">t</a>`)
	require.NoError(t, err)
	x, err := xv.XML()
	require.NoError(t, err)
	assert.Equal(t, `<a b="1">t</a>`, x)

	s, err := StringVar("héllo").Text()
	require.NoError(t, err)
	assert.Equal(t, "héllo", s)
	ok, err := BoolVar(true).Bool()
	require.NoError(t, err)
	assert.True(t, ok)

	ov, err := ObjectJSONVar("com.example.Order", map[string]int{"k": 1})
	require.NoError(t, err)
	assert.Equal(t, "com.example.Order", ov.ObjectTypeName())
	doc, err := ov.JSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"k":1}`, string(doc))

	fv, err := FileVar("a.txt", "text/plain", []byte("hi"))
	require.NoError(t, err)
	name, mt, _, err := fv.FileInfo()
	require.NoError(t, err)
	assert.Equal(t, []string{"a.txt", "text/plain"}, []string{name, mt})

	// Wrong types, nulls and bad values name what was wrong.
	_, err = DoubleVar(1.5).Long()
	assert.ErrorIs(t, err, ErrVariableType)
	assert.ErrorContains(t, err, "the variable is Double, want Short, Integer or Long")
	_, err = StringVar("1").Long()
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = Variable{Type: "Long", Value: json.RawMessage(`null`)}.Long()
	assert.ErrorIs(t, err, ErrNullValue)
	_, err = NullVar().Text()
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = Variable{Type: "Long", Value: json.RawMessage(`1.5`)}.Long()
	assert.ErrorContains(t, err, "is not an integer")
	_, err = Variable{Type: "Date", Value: json.RawMessage(`"tomorrow"`)}.Date()
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = Variable{Type: "Bytes", Value: json.RawMessage(`"***"`)}.Bytes()
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = BytesVar(nil).XML()
	assert.ErrorIs(t, err, ErrVariableType)
	_, _, _, err = StringVar("x").FileInfo()
	assert.ErrorIs(t, err, ErrVariableType)
	_, err = XMLVar("<a>")
	assert.ErrorContains(t, err, "not well-formed XML")
	_, err = RawObjectJSONVar("", json.RawMessage(`{}`))
	assert.ErrorContains(t, err, "objectTypeName is empty")
	_, err = FileVar("", "", nil)
	assert.ErrorContains(t, err, "file name is empty")
}

func TestDownloadFile(t *testing.T) {
	t.Parallel()
	content := strings.Repeat("x", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/execution/e1/localVariables/f/data":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"InvalidRequestException","message":"execution variable with name f does not exist"}`))
		case "/process-instance/p1/variables/f/data":
			w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
			w.Header().Set("Content-Disposition", `attachment; filename="h.txt"`)
			_, _ = w.Write([]byte(content))
		case "/execution/e1/localVariables/chunked/data":
			w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
			_, _ = w.Write([]byte(content))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	f, err := DownloadFile(ctx, srv.Client(), srv.URL+"/", FileRef{ExecutionID: "e1", ProcessInstanceID: "p1", Name: "f"}, 100)
	require.NoError(t, err, "falls back to the process instance when the execution has no such local variable")
	assert.Equal(t, content, string(f.Content))
	assert.Equal(t, "h.txt", f.Filename)
	assert.Equal(t, "text/plain", f.MimeType)
	assert.Equal(t, "UTF-8", f.Encoding)

	_, err = DownloadFile(ctx, srv.Client(), srv.URL, FileRef{ExecutionID: "e1", ProcessInstanceID: "p1", Name: "f"}, 99)
	assert.ErrorIs(t, err, ErrFileTooLarge, "Content-Length over the cap")
	_, err = DownloadFile(ctx, srv.Client(), srv.URL, FileRef{ExecutionID: "e1", Name: "chunked"}, 99)
	assert.ErrorIs(t, err, ErrFileTooLarge, "a body without Content-Length over the cap")
	f, err = DownloadFile(ctx, srv.Client(), srv.URL, FileRef{ExecutionID: "e1", Name: "chunked"}, 0)
	require.NoError(t, err, "0 is no cap")
	assert.Len(t, f.Content, 100)

	_, err = DownloadFile(ctx, srv.Client(), srv.URL, FileRef{ExecutionID: "e1", ProcessInstanceID: "p1", Name: "other"}, 0)
	assert.ErrorIs(t, err, ErrNoVariable)
	assert.True(t, errors.Is(err, ErrNoVariable))
	_, err = DownloadFile(ctx, srv.Client(), srv.URL, FileRef{Name: "f"}, 0)
	assert.ErrorContains(t, err, "no execution or process instance id")
}
