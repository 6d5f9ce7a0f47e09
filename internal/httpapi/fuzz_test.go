package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzStartBody sends arbitrary bodies and Content-Types to POST /process/{key}/start, on the
// handler with in-memory collaborators (no engine: go test -fuzz runs one test binary per
// worker, and topicstest.Main starts no engine while fuzzing). Properties:
//   - the answer is 200 (started) or a 4xx problem document, never 5xx, never a panic;
//   - a process starts only for a body that is empty or exactly one JSON object, declared JSON;
//   - what is sent to the engine respects its storage limits (names, String values,
//     business key), and the correlation variable is the API's own;
//   - a refused request registered no row.
func FuzzStartBody(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"application/json", `{"variables":{"email":"a@b.c","name":"A"}}`},
		{"application/json", `{"email":"a@b.c","n":1,"f":1.5,"b":true,"z":null,"o":{"k":[1,2]}}`},
		{"application/json", `{"businessKey":"bk","correlationId":"order-1","variables":{"x":"y"}}`},
		{"application/json", `{"a":1}}}`},
		{"application/json", `{} {}`},
		{"application/json", `[1,2]`},
		{"application/json", `{"variables":[]}`},
		{"application/json", `{"correlationId":"bad id"}`},
		{"application/json", `{"variables":{"correlationId":"x"}}`},
		{"application/json", `{"s":"` + strings.Repeat("x", 4001) + `"}`},
		{"application/json", `{"` + strings.Repeat("n", 256) + `":1}`},
		{"application/json", `{"n":12345678901234567890123}`},
		{"application/json", `{"n":1e400}`},
		{"application/json; charset=utf-8", `{"\u00e9":"\ud83d\ude00"}`},
		{"text/plain", `{}`},
		{"", `{}`},
		{"", ``},
		{"application/json", "{\"a\":\"\xff\"}"},
		{"application/json", strings.Repeat("[", 5000)},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		a := newTestAPI(t, nil)
		req := httptest.NewRequest(http.MethodPost, "/process/p/start", bytes.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)

		started := a.starter.count() == 1
		switch {
		case rec.Code == http.StatusOK:
			if !started {
				t.Fatalf("200 without a start: %s", rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if started || a.room.count() != 0 {
				t.Fatalf("%d, yet a process started or a row was registered", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Fatalf("%d answered with Content-Type %q", rec.Code, got)
			}
			return
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}

		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 {
			if ok, _ := isJSONType(ct); !ok {
				t.Fatalf("started with Content-Type %q", ct)
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(trimmed, &obj); err != nil {
				t.Fatalf("started for a body that is not one JSON object: %q (%v)", body, err)
			}
		}
		call := a.starter.starts[0]
		if n := javaLen(call.businessKey); n > MaxBusinessKey {
			t.Fatalf("business key of %d characters sent", n)
		}
		for name, v := range call.vars {
			if name == "" || javaLen(name) > MaxVariableName {
				t.Fatalf("variable name %q sent", name)
			}
			if s, err := v.Text(); err == nil {
				if javaLen(s) > MaxStringVariable {
					t.Fatalf("String %q of %d characters sent", name, javaLen(s))
				}
				if !utf8.ValidString(s) {
					t.Fatalf("String %q is not valid UTF-8", name)
				}
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("variable %q cannot be encoded for the engine: %v", name, err)
			}
		}
		if s, err := call.vars["correlationId"].Text(); err != nil || s == "" {
			t.Fatalf("correlation variable %q: %v", s, err)
		}
	})
}
