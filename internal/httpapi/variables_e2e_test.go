package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

// The start API's JSON reaches the engine with the documented types and exact values: every
// type, through the whole daemon, read back from the engine's runtime variables.
func TestE2EStartVariablesOfEveryType(t *testing.T) {
	e := needEngine(t)
	d := startDaemon(t, daemonOpts{maxBodyBytes: 64 << 10, waitTimeout: 100 * time.Millisecond, waitForEngine: true})
	body := `{"correlationId":"types_1","variables":{
		"text":"héllo","flag":true,"nothing":null,"big":9223372036854775807,"past53":9007199254740993,"ratio":0.1,
		"doc":{"n":9223372036854775807,"list":[1,"x"]},"list":[true],
		"when":{"type":"Date","value":"2026-03-04T05:06:07.890+05:30"},
		"whenEngine":{"type":"Date","value":"2026-03-04T05:06:07.890+0530"},
		"xml":{"type":"Xml","value":"<order id=\"7\"/>"},
		"order":{"type":"Object","value":{"id":7},"valueInfo":{"objectTypeName":"com.example.Order","serializationDataFormat":"application/json"}},
		"raw":{"type":"Bytes","value":"AAH+/w=="},
		"upload":{"type":"File","value":"aGVsbG8=","valueInfo":{"filename":"h.txt","mimeType":"text/plain"}},
		"small":{"type":"Short","value":7},"mid":{"type":"Integer","value":-5.0},"digits":{"type":"Long","value":9223372036854775806},
		"typedNull":{"type":"String","value":null},"wrapped":{"type":"Json","value":{"type":"car"}}
	}}`
	resp, b := d.do(t, http.MethodPost, "/process/"+slowKey+"/start", body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "the user task holds the process: %s", b)
	instance := decode[result](t, b).ProcessInstanceID
	require.NotEmpty(t, instance)

	var vars map[string]camunda.Variable
	q := url.Values{"deserializeValues": {"false"}}
	require.NoError(t, e.Do(context.Background(), http.MethodGet, "/process-instance/"+url.PathEscape(instance)+"/variables?"+q.Encode(), nil, &vars))
	want := map[string][2]string{
		"text": {"String", `"héllo"`}, "flag": {"Boolean", `true`}, "nothing": {"Null", `null`},
		"big": {"Long", `9223372036854775807`}, "past53": {"Long", `9007199254740993`}, "ratio": {"Double", `0.1`},
		"raw": {"Bytes", `"AAH+/w=="`}, "small": {"Short", `7`}, "mid": {"Integer", `-5`},
		"digits": {"Long", `9223372036854775806`}, "typedNull": {"String", `null`},
		"correlationId": {"String", `"types_1"`},
	}
	for name, tv := range want {
		v, ok := vars[name]
		if assert.True(t, ok, name) {
			assert.Equal(t, tv[0], v.Type, name)
			assert.Equal(t, tv[1], string(v.Value), name)
		}
	}
	for name, doc := range map[string]string{"doc": `{"n":9223372036854775807,"list":[1,"x"]}`, "list": `[true]`, "wrapped": `{"type":"car"}`} {
		assert.Equal(t, "Json", vars[name].Type, name)
		got, err := vars[name].JSON()
		require.NoError(t, err, name)
		assert.JSONEq(t, doc, string(got), name)
	}
	docText, _ := vars["doc"].JSON()
	assert.Contains(t, string(docText), "9223372036854775807", "a big number inside Json keeps its digits")

	wantWhen := time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.FixedZone("", 5*3600+30*60))
	for _, name := range []string{"when", "whenEngine"} {
		got, err := vars[name].Date()
		require.NoError(t, err, name)
		assert.True(t, wantWhen.Equal(got), "%s: sent %s, the engine holds %s", name, wantWhen, got)
	}
	x, err := vars["xml"].XML()
	require.NoError(t, err)
	assert.Equal(t, `<order id="7"/>`, x)
	assert.Equal(t, "Object", vars["order"].Type)
	assert.Equal(t, "com.example.Order", vars["order"].ObjectTypeName())
	assert.Equal(t, "application/json", vars["order"].ValueInfo["serializationDataFormat"])
	obj, err := vars["order"].JSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":7}`, string(obj))
	name, mimeType, _, err := vars["upload"].FileInfo()
	require.NoError(t, err)
	assert.Equal(t, []string{"h.txt", "text/plain"}, []string{name, mimeType})
	f, err := camunda.DownloadFile(context.Background(), http.DefaultClient, e.URL, camunda.FileRef{ProcessInstanceID: instance, Name: "upload"}, 100)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(f.Content))

	// A bad explicit type is refused before anything is written, naming the variable.
	resp, b = d.do(t, http.MethodPost, "/process/"+slowKey+"/start", `{"correlationId":"types_2","variables":{"when":{"type":"Date","value":"tomorrow"}}}`)
	requireProblem(t, resp, b, http.StatusBadRequest, "invalid-variables", `variable "when": type Date: "value" must be a string in the engine's format`)
	resp, b = d.do(t, http.MethodGet, "/process/types_2/result", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no row for a refused start: %s", b)
}
