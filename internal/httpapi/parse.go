package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"unicode/utf16"
)

// The engine's storage limits for what a start request carries. Past them Camunda 7.24
// answers 500 ("An exception occurred in the persistence layer"), after the row is
// registered, so the API checks them first and answers 400 naming the variable. Measured on
// the engine of dev/camunda (H2): the limits count UTF-16 code units, as Java's
// String.length() does (2,000 emoji of 2 units each pass, 2,001 fail), and are the same
// column sizes on PostgreSQL, SQL Server and MySQL engine databases. Oracle stores String
// variables in NVARCHAR2(2000): there the engine still refuses longer ones itself.
const (
	// MaxStringVariable is ACT_RU_VARIABLE.TEXT_ (varchar 4000): a String variable's value.
	MaxStringVariable = 4000
	// MaxVariableName is ACT_RU_VARIABLE.NAME_ (varchar 255).
	MaxVariableName = 255
	// MaxBusinessKey is ACT_RU_EXECUTION.BUSINESS_KEY_ (varchar 255).
	MaxBusinessKey = 255
)

// javaLen is the length of s as the engine counts it: UTF-16 code units.
func javaLen(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++
		}
	}
	return n
}

// shorten cuts s for an error message, so a 100 KB variable name is not echoed whole.
func shorten(s string) string {
	const max = 40
	if len([]rune(s)) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

// checkName checks a variable name against the engine's column size.
func checkName(name string) error {
	if n := javaLen(name); n > MaxVariableName {
		return fmt.Errorf("variable name %q is %d characters long; the engine stores names of at most %d", shorten(name), n, MaxVariableName)
	}
	return nil
}

// checkString checks a String variable's value against the engine's column size.
//
// Longer strings are refused rather than sent as another type that the engine stores
// without a limit (Json, or an Object serialized as JSON): the process would then see a
// different type depending on the value's length (a Spin JSON node or an object instead of a
// string), and expressions such as ${name == '...'}, other workers and Cockpit would treat
// it differently. A client that has long text sends it inside a JSON object or array, which
// becomes a Json variable, stored unbounded (checked: 100,000 characters start fine).
func checkString(name, value string) error {
	if n := javaLen(value); n > MaxStringVariable {
		return fmt.Errorf("variable %q is a string of %d characters; the engine stores at most %d in a String variable: send longer text inside a JSON object or array (a Json variable, which has no such limit)", shorten(name), n, MaxStringVariable)
	}
	return nil
}

// checkBusinessKey checks the business key against the engine's column size.
func checkBusinessKey(key string) error {
	if n := javaLen(key); n > MaxBusinessKey {
		return fmt.Errorf("businessKey is %d characters long; the engine stores at most %d", n, MaxBusinessKey)
	}
	return nil
}

// jsonBody refuses a POST whose body is not declared JSON with 415: application/json or a
// +json type, in UTF-8. A body without a Content-Type is refused too; only an empty body may
// come without one. Besides telling a client its mistake, this keeps browsers from posting
// here across origins without a CORS preflight (which the API does not answer): HTML forms
// and "simple" requests can only send form, multipart or text/plain bodies.
func jsonBody(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if ct == "" && r.ContentLength == 0 {
			h(w, r)
			return
		}
		if ok, why := isJSONType(ct); !ok {
			w.Header().Set("Accept-Post", "application/json")
			writeProblem(w, Problem{Type: "unsupported-media-type", Title: "the body must be JSON", Status: http.StatusUnsupportedMediaType,
				Detail: why + ": send the body with 'Content-Type: application/json'"})
			return
		}
		h(w, r)
	}
}

// isJSONType reports whether a Content-Type value declares JSON in UTF-8, and why not.
func isJSONType(ct string) (bool, string) {
	if ct == "" {
		return false, "the request has a body but no Content-Type"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Sprintf("Content-Type %q cannot be parsed", shorten(ct))
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return false, fmt.Sprintf("Content-Type %q is not JSON", shorten(mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false, fmt.Sprintf("charset %q is not UTF-8, the only encoding of JSON", shorten(cs))
	}
	return true, ""
}

// methodNotAllowed answers 405 with the Allow header for a path served only for other methods.
// net/http's ServeMux would do it by itself, but the catch-all "/" route (404 with a problem
// document) matches every method first.
func methodNotAllowed(allow []string) http.HandlerFunc {
	sorted := append([]string(nil), allow...)
	for _, m := range allow {
		if m == http.MethodGet {
			sorted = append(sorted, http.MethodHead)
		}
	}
	sort.Strings(sorted)
	header := strings.Join(sorted, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", header)
		writeProblem(w, Problem{Type: "method-not-allowed", Title: "method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: fmt.Sprintf("%s is not served for %s; allowed: %s", r.Method, r.URL.Path, header)})
	}
}

// tokenDigest is what bearer tokens are compared by: the SHA-256 of "Bearer <token>".
// Comparing digests of fixed length, in constant time, tells a client nothing about the
// token's length or its first differing byte through response timing
// (subtle.ConstantTimeCompare returns at once when lengths differ).
func tokenDigest(header string) [sha256.Size]byte { return sha256.Sum256([]byte(header)) }

// tokenMatches compares an Authorization header with the expected one by digest.
func tokenMatches(got string, want [sha256.Size]byte) bool {
	d := tokenDigest(got)
	return subtle.ConstantTimeCompare(d[:], want[:]) == 1
}
