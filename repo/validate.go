package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxIDLength is the longest correlation id: the Node.js service's column is VARCHAR(64).
const MaxIDLength = 64

// idRule is the rule ValidateID enforces, spelled out in every error it returns.
const idRule = "a correlation id is 1 to 64 characters from [A-Za-z0-9._:-]"

// maxEcho is how much of a bad value an error message quotes.
const maxEcho = 64

// ValidateID checks a correlation id: 1 to 64 characters from [A-Za-z0-9._:-]. The set is
// ASCII so that an id means the same bytes in every dialect (SQL Server stores it as VARCHAR),
// and it keeps ids safe in URLs, logs and LISTEN payloads. The error wraps ErrInvalidID, says
// what is wrong and states the rule; it quotes at most the first 64 bytes of the value.
func ValidateID(id string) error {
	if p := idProblem(id); p != "" {
		return fmt.Errorf("%w %s: %s; %s", ErrInvalidID, echo(id), p, idRule)
	}
	return nil
}

// idProblem says what breaks the id rule in s, or "" when s follows it.
func idProblem(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxIDLength {
		return fmt.Sprintf("%d bytes, longer than %d", len(s), MaxIDLength)
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return fmt.Sprintf("byte %d (%q) is not allowed", i, s[i])
		}
	}
	return ""
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == ':', c == '-':
		return true
	}
	return false
}

// echo quotes at most maxEcho bytes of s for an error message.
func echo(s string) string {
	if len(s) <= maxEcho {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…", s[:maxEcho])
}

// ValidateBody checks a payload or error body: not empty, valid UTF-8 JSON, and at most max
// bytes (max <= 0 means MaxBodyBytesDefault). name says which body ("payload", "error body")
// in the error. A bad body wraps ErrInvalidJSON; an oversized one wraps ErrTooLarge and names
// the config key store.maxBodyBytes that raises the limit.
func ValidateBody(name string, body json.RawMessage, max int) error {
	if max <= 0 {
		max = MaxBodyBytesDefault
	}
	if len(body) > max {
		return fmt.Errorf("%w: %s is %d bytes, over the limit of %d bytes; raise store.maxBodyBytes to allow larger bodies",
			ErrTooLarge, name, len(body), max)
	}
	if len(body) == 0 {
		return fmt.Errorf("%w: %s is empty; it must be a JSON value (send null for no value)", ErrInvalidJSON, name)
	}
	if !json.Valid(body) {
		// Decode again only on this error path, for the position json.Valid does not give.
		var raw json.RawMessage
		detail := "not valid JSON"
		if err := json.Unmarshal(body, &raw); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				detail = fmt.Sprintf("not valid JSON at byte %d: %v", syn.Offset, err)
			} else {
				detail = "not valid JSON: " + err.Error()
			}
		}
		return fmt.Errorf("%w: %s is %s", ErrInvalidJSON, name, detail)
	}
	// JSON text is UTF-8 (RFC 8259); json.Valid does not check that, and PostgreSQL TEXT and
	// SQL Server NVARCHAR cannot hold arbitrary bytes.
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidJSON, name)
	}
	return nil
}
