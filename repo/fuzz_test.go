package repo

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// idRuleRE is ValidateID's rule written independently of its byte loop.
var idRuleRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// FuzzValidateID: ValidateID accepts exactly the ids of the rule; a refusal wraps
// ErrInvalidID, states the rule, is valid UTF-8 (it quotes the value) and quotes at most 64
// bytes of it, so a megabyte id does not make a megabyte error.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"", "a", "order-42", "ns:order.42_x", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"bad id", "ü", "a/b", "a\x00b", "\xff", "%2F", "../etc", "id\n", strings.Repeat("é", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if want := idRuleRE.MatchString(id); want != (err == nil) {
			t.Fatalf("ValidateID(%q) = %v; the rule says valid=%t", id, err, want)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalidID) {
			t.Fatalf("error does not wrap ErrInvalidID: %v", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, idRule) {
			t.Fatalf("error does not state the rule: %s", msg)
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("error is not valid UTF-8: %q", msg)
		}
		if limit := len(ErrInvalidID.Error()) + 4*maxEcho + 200 + len(idRule); len(msg) > limit {
			t.Fatalf("error is %d bytes for a %d-byte id", len(msg), len(id))
		}
	})
}
