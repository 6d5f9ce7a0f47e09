package repo_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 65)
	huge := strings.Repeat("y", 10000)
	tests := []struct {
		name string
		id   string
		ok   bool
		msg  []string // substrings of the error
	}{
		{name: "one char", id: "a", ok: true},
		{name: "all classes", id: "Az09._:-", ok: true},
		{name: "64 chars", id: strings.Repeat("z", 64), ok: true},
		{name: "empty", id: "", msg: []string{"empty", "1 to 64 characters", "[A-Za-z0-9._:-]"}},
		{name: "65 chars", id: long, msg: []string{"65 bytes", "longer than 64", "[A-Za-z0-9._:-]"}},
		{name: "space", id: "a b", msg: []string{`byte 1 (' ') is not allowed`, `"a b"`}},
		{name: "slash", id: "a/b", msg: []string{`'/'`}},
		{name: "unicode", id: "é", msg: []string{"byte 0"}},
		{name: "quote", id: `a"b`, msg: []string{`byte 1`}},
		{name: "huge value is not echoed whole", id: huge, msg: []string{"10000 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := repo.ValidateID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if !errors.Is(err, repo.ErrInvalidID) {
				t.Fatalf("ValidateID = %v, want ErrInvalidID", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
			if n := len(err.Error()); n > 250 {
				t.Errorf("error is %d bytes long; it must not echo the whole value: %q", n, err)
			}
		})
	}
}

func TestValidateBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		max  int
		want error
		msg  []string
	}{
		{name: "object", body: `{"a":1}`},
		{name: "null", body: `null`},
		{name: "string with unicode", body: `"é ☃"`},
		{name: "at the limit", body: `"` + strings.Repeat("a", 8) + `"`, max: 10},
		{name: "empty", body: ``, want: repo.ErrInvalidJSON, msg: []string{"payload", "empty"}},
		{name: "truncated", body: `{"a":`, want: repo.ErrInvalidJSON, msg: []string{"payload", "not valid JSON"}},
		{name: "trailing garbage", body: `{} x`, want: repo.ErrInvalidJSON, msg: []string{"at byte"}},
		{name: "bad utf8", body: "\"\xff\"", want: repo.ErrInvalidJSON, msg: []string{"UTF-8"}},
		{name: "over the limit", body: `"` + strings.Repeat("a", 9) + `"`, max: 10, want: repo.ErrTooLarge,
			msg: []string{"payload is 11 bytes", "limit of 10 bytes", "store.maxBodyBytes"}},
		{name: "over the default limit", body: `"` + strings.Repeat("a", repo.MaxBodyBytesDefault) + `"`, want: repo.ErrTooLarge,
			msg: []string{"1048578 bytes", "1048576"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := repo.ValidateBody("payload", json.RawMessage(tt.body), tt.max)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateBody = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ValidateBody = %v, want %v", err, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
		})
	}
}
