package httpapi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The start body's variables reach the starter typed by the documented rule (README "Process
// variables from JSON"), exactly: a Long keeps all its digits.
func TestStartVariablesAreTypedByTheRule(t *testing.T) {
	a := newTestAPI(t, nil)
	body := `{"variables":{
		"s":"text","b":true,"n":null,"l":9223372036854775807,"l53":9007199254740993,"d":1.25,
		"doc":{"a":[1,2]},"list":[1],
		"date":{"type":"Date","value":"2026-01-02T03:04:05+05:30"},
		"xml":{"type":"Xml","value":"<a/>"},
		"obj":{"type":"Object","value":{"k":1},"valueInfo":{"objectTypeName":"com.example.Order"}},
		"bytes":{"type":"Bytes","value":"AAE="},
		"short":{"type":"short","value":7},"jtext":{"type":"Json","value":"plain"}
	}, "top": "level"}`
	rec := a.send(http.MethodPost, "/process/p/start", "application/json", body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, 1, a.starter.count())
	vars := a.starter.starts[0].vars
	want := map[string][2]string{
		"s": {"String", `"text"`}, "b": {"Boolean", `true`}, "n": {"Null", `null`},
		"l": {"Long", `9223372036854775807`}, "l53": {"Long", `9007199254740993`}, "d": {"Double", `1.25`},
		"doc": {"Json", `"{\"a\":[1,2]}"`}, "list": {"Json", `"[1]"`},
		"date": {"Date", `"2026-01-02T03:04:05.000+0530"`}, "xml": {"Xml", `"<a/>"`},
		"obj": {"Object", `"{\"k\":1}"`}, "bytes": {"Bytes", `"AAE="`}, "short": {"Short", `7`},
		"top": {"String", `"level"`}, "jtext": {"Json", `"\"plain\""`},
	}
	for name, tv := range want {
		require.Contains(t, vars, name)
		assert.Equal(t, tv[0], vars[name].Type, name)
		assert.Equal(t, tv[1], string(vars[name].Value), name)
	}
	assert.Equal(t, "com.example.Order", vars["obj"].ObjectTypeName())
}

func TestStartRefusesBadVariablesNamingThem(t *testing.T) {
	a := newTestAPI(t, nil)
	cases := []struct{ body, typ, want string }{
		{`{"variables":{"when":{"type":"Date","value":"soon"}}}`, "invalid-variables", `variable "when": type Date: "value" must be a string in the engine's format`},
		{`{"thing":{"type":"Thing","value":1}}`, "invalid-variables", `variable "thing": unknown type "Thing": use one of`},
		{`{"n":{"type":"Integer","value":3000000000}}`, "invalid-variables", `variable "n": type Integer: "value" must be an integral number within -2147483648..2147483647`},
		{`{"o":{"type":"Object","value":{}}}`, "invalid-variables", `variable "o": type Object: "valueInfo" needs "objectTypeName"`},
		{`{"x":1,"variables":{"x":2}}`, "invalid-body", `variable "x" is given twice, at the top level and inside variables: keep one`},
	}
	for _, tc := range cases {
		rec := a.send(http.MethodPost, "/process/p/start", "application/json", tc.body)
		p := problem(t, rec, http.StatusBadRequest, tc.typ)
		assert.Contains(t, p["detail"], tc.want, tc.body)
	}
	require.Equal(t, 0, a.starter.count(), "nothing started")
	require.Equal(t, 0, a.room.count(), "nothing registered")

	// A variable named like a member of the body is not a clash: inside variables it is a
	// variable, at the top level the member.
	rec := a.send(http.MethodPost, "/process/p/start", "application/json", `{"businessKey":"bk","variables":{"businessKey":"v"}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, `"v"`, string(a.starter.starts[0].vars["businessKey"].Value))
	assert.Equal(t, "bk", a.starter.starts[0].businessKey)
}
