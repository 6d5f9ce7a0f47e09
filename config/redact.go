package config

import (
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted stands in for a secret's value wherever configuration is shown.
const Redacted = "<redacted>"

// Redaction works by structure, not by recognising a password's shape: whatever sits where a
// secret can sit is hidden, whatever its characters. Where the structure is ambiguous (a value
// with separators in it, an unterminated quote), more is hidden rather than less.

// secretKeyLeaf matches the last segment of a configuration key that holds a secret
// (store.password, camunda.auth.token, http.authToken, and any such key added later).
var secretKeyLeaf = regexp.MustCompile(`(?i)(pass|pwd|secret|token|credential)`)

// secretParam matches connection-string and URL parameter names whose value may be a secret:
// password, sslpassword, pwd, _auth_pass, client secret, access token, sslkey, sig, .... Broader
// than secretKeyLeaf: hiding a parameter that was not secret costs only readability.
var secretParam = regexp.MustCompile(`(?i)(pass|pwd|secret|token|key|auth|cred|sig)`)

// urlScheme matches a string that starts like a URL (scheme://).
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*://`)

// isSecretKey reports whether a configuration key's value is never shown as is: keys whose
// name looks like a secret, every store.params value (drivers take credentials there, e.g.
// SQL Server's Entra ID settings), and the strings that may embed credentials, store.dsn,
// camunda.url and camunda.auth.oauth2.tokenUrl (shown through RedactDSN, see isURLKey).
func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	if isURLKey(k) || k == "store.params" || strings.HasPrefix(k, "store.params.") || strings.HasPrefix(k, "store.params[") {
		return true
	}
	leaf := k
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		leaf = k[i+1:]
	}
	return secretKeyLeaf.MatchString(leaf)
}

// isURLKey reports the keys (lower-cased) whose value is a connection string or URL that may
// embed credentials: shown through RedactDSN, their credentials are Secrets. The token
// endpoint's key is one of them although its name says "token": it is where tokens come
// from, not one.
func isURLKey(k string) bool {
	return k == "store.dsn" || k == "camunda.url" || k == "camunda.auth.oauth2.tokenurl"
}

// redactedValue is how a secret key's value is shown: DSNs and URLs keep everything but their
// credentials; anything else is Redacted. Empty stays empty, so an unset secret shows as unset.
func redactedValue(key, v string) string {
	if v == "" {
		return ""
	}
	if isURLKey(strings.ToLower(key)) {
		return RedactDSN(v)
	}
	return Redacted
}

// RedactDSN hides the credentials of a connection string or URL and keeps the rest, so an
// operator can still see where it points:
//   - in URL form (scheme://...), everything between "://" and the last "@" (user and
//     password, whatever characters they contain);
//   - in every form (URL query, key=value;... as SQL Server and ODBC write it, libpq's
//     key=value ...), the value of every parameter whose name looks like a password, secret,
//     token, key or auth setting, quoted or not.
func RedactDSN(dsn string) string {
	if loc := urlScheme.FindStringIndex(dsn); loc != nil {
		head, rest := dsn[:loc[1]], dsn[loc[1]:]
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			rest = Redacted + rest[at:]
		}
		return head + redactParams(rest)
	}
	return redactParams(dsn)
}

// isParamSep reports the bytes that end a parameter: URL query (& ?), SQL Server/ODBC (;)
// and libpq (white space) separators.
func isParamSep(c byte) bool {
	switch c {
	case '&', '?', ';', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// paramName matches a parameter name and its "=" at the start of a string: letters, digits,
// _ . - and inner spaces ("user id", "app name").
var paramName = regexp.MustCompile(`^([A-Za-z0-9_.\-]+(?: [A-Za-z0-9_.\-]+)*)[ \t]*=[ \t]*`)

// redactParams replaces the value of every secret-named parameter in s with Redacted.
func redactParams(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		atStart := i == 0 || isParamSep(s[i-1])
		m := paramName.FindStringSubmatchIndex(s[i:])
		if !atStart || m == nil {
			b.WriteByte(s[i])
			i++
			continue
		}
		name := s[i+m[2] : i+m[3]]
		vStart := i + m[1]
		vEnd := valueEnd(s, vStart)
		b.WriteString(s[i:vStart])
		if secretParam.MatchString(name) && vEnd > vStart {
			b.WriteString(Redacted)
		} else {
			b.WriteString(s[vStart:vEnd])
		}
		i = vEnd
	}
	return b.String()
}

// valueEnd returns where the value starting at i ends. A quoted value ends at its closing
// quote, or at the end of s when it has none. Forms disagree on escapes inside quotes (libpq:
// \' and \\; SQL Server and ODBC: a doubled quote, }} in braces), and the form of a string is
// not always known, so the value is taken to end at the latest closing quote any of them
// would see. An unquoted value ends at the first separator that is followed by another
// parameter (name=), so a value with separators in it stays whole.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch q := s[i]; q {
	case '\'', '"':
		return max(quotedEnd(s, i, q, true, false), quotedEnd(s, i, q, false, true), quotedEnd(s, i, q, true, true))
	case '{':
		return quotedEnd(s, i, '}', false, true)
	}
	for j := i; j < len(s); j++ {
		if !isParamSep(s[j]) {
			continue
		}
		k := j
		for k < len(s) && isParamSep(s[k]) {
			k++
		}
		if k < len(s) && paramName.MatchString(s[k:]) {
			return j
		}
	}
	return len(s)
}

// quotedEnd returns the index after the quote that closes the value opened at s[i], with
// backslash escapes and/or doubled closing quotes as escapes, or len(s) if none closes it.
func quotedEnd(s string, i int, closing byte, backslash, doubled bool) int {
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if backslash && c == '\\' {
			j++
			continue
		}
		if c == closing {
			if doubled && j+1 < len(s) && s[j+1] == closing {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// Redacted returns a copy of c with every secret hidden (see isSecretKey): DSNs and the engine
// URL keep all but their credentials, other secrets become Redacted. Empty secrets stay empty
// so an operator can see they are unset. c itself is not changed.
func (c Config) Redacted() Config {
	out := c
	redactInto(reflect.ValueOf(&out).Elem(), "")
	return out
}

// redactInto walks a copy of the configuration, replacing secret strings by their redacted
// form and copying slices and maps before changing them (the copy shares them with the
// original otherwise).
func redactInto(v reflect.Value, key string) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := t.Field(i).Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			k := tag
			if key != "" {
				k = key + "." + tag
			}
			redactInto(v.Field(i), k)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(v.Elem())
			v.Set(p)
			redactInto(p.Elem(), key)
		}
	case reflect.Slice:
		if !v.IsNil() {
			cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(cp, v)
			v.Set(cp)
			for i := 0; i < cp.Len(); i++ {
				redactInto(cp.Index(i), key)
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, mk := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(mk))
			redactInto(e, key+"."+mk.String())
			cp.SetMapIndex(mk, e)
		}
		v.Set(cp)
	case reflect.String:
		if isSecretKey(key) {
			v.SetString(redactedValue(key, v.String()))
		}
	}
}

// RedactedStoreDSN is the store's connection string for logs and messages: store.dsn through
// RedactDSN, or the DSN built from the redacted configuration (no password, no store.params
// values).
func (c *Config) RedactedStoreDSN() string {
	if c.Store.DSN != "" {
		return RedactDSN(c.Store.DSN)
	}
	r := c.Redacted()
	dsn := RedactDSN(r.StoreDSN())
	return strings.ReplaceAll(dsn, url.QueryEscape(Redacted), Redacted)
}

// Secrets lists the secret values of c as given (passwords, tokens, the OAuth2 client
// secret, every store.params value, the credentials in store.dsn, camunda.url and the token
// endpoint's URL), for Scrub.
func (c *Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	var walk func(v reflect.Value, key string)
	walk = func(v reflect.Value, key string) {
		switch v.Kind() {
		case reflect.Struct:
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				tag := t.Field(i).Tag.Get("mapstructure")
				if tag == "" || tag == "-" {
					continue
				}
				k := tag
				if key != "" {
					k = key + "." + tag
				}
				walk(v.Field(i), k)
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), key)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), key)
			}
		case reflect.Map:
			for _, mk := range v.MapKeys() {
				walk(v.MapIndex(mk), key+"."+mk.String())
			}
		case reflect.String:
			k := strings.ToLower(key)
			switch {
			case isURLKey(k):
				for _, s := range credentialsIn(v.String()) {
					add(s)
				}
			case isSecretKey(key):
				add(v.String())
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// credentialsIn returns the parts of a DSN or URL that RedactDSN hides.
func credentialsIn(s string) []string {
	var out []string
	if loc := urlScheme.FindStringIndex(s); loc != nil {
		rest := s[loc[1]:]
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			info := rest[:at]
			out = append(out, info)
			if _, pw, ok := strings.Cut(info, ":"); ok {
				out = append(out, pw)
				if u, err := url.PathUnescape(pw); err == nil {
					out = append(out, u)
				}
			}
		}
	}
	i := 0
	for i < len(s) {
		atStart := i == 0 || isParamSep(s[i-1])
		m := paramName.FindStringSubmatchIndex(s[i:])
		if !atStart || m == nil {
			i++
			continue
		}
		vStart := i + m[1]
		vEnd := valueEnd(s, vStart)
		if secretParam.MatchString(s[i+m[2]:i+m[3]]) && vEnd > vStart {
			out = append(out, s[vStart:vEnd])
			if u, err := url.QueryUnescape(s[vStart:vEnd]); err == nil {
				out = append(out, u)
			}
		}
		i = max(vEnd, i+1)
	}
	return out
}

// minScrubLen is the shortest secret Scrub replaces: a shorter one ("a", "1") would also be
// found inside ordinary words and numbers and make every message unreadable, while hiding
// almost nothing.
const minScrubLen = 4

// Scrub replaces every occurrence in s of a secret of c (as given, URL-escaped or
// JSON-escaped) with Redacted. It is the last line of defence for text that did not come
// through the structural redaction: errors from database drivers and libraries, which may
// repeat a connection string. Secrets shorter than 4 bytes are left alone.
func (c *Config) Scrub(s string) string { return c.Scrubber()(s) }

// Scrubber returns Scrub with the secrets' spellings worked out once, for text that is
// scrubbed often (every log line).
func (c *Config) Scrubber() func(string) string {
	seen := map[string]bool{}
	var forms []string
	for _, sec := range c.Secrets() {
		if len(sec) < minScrubLen {
			continue
		}
		for _, f := range secretForms(sec) {
			if f != "" && !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	// Longest first: a secret that contains another is replaced whole.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return func(s string) string {
		for _, f := range forms {
			if strings.Contains(s, f) {
				s = strings.ReplaceAll(s, f, Redacted)
			}
		}
		return s
	}
}

// secretForms are the spellings under which a secret may show up in a message.
func secretForms(s string) []string {
	q := strings.Trim(quoteJSON(s), `"`)
	return []string{s, url.QueryEscape(s), url.PathEscape(s), q}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			const hex = "0123456789abcdef"
			switch r {
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[r>>4])
				b.WriteByte(hex[r&0xF])
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// DumpYAML renders the configuration, secrets redacted, as YAML with the config file's key
// names: what `worker config` prints.
func (c Config) DumpYAML() ([]byte, error) {
	r := c.Redacted()
	return yaml.Marshal(toMap(reflect.ValueOf(r)))
}

// toMap converts a config struct into nested maps keyed by mapstructure tags, with durations
// as strings, so the dump reads like config.yaml.
func toMap(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toMap(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := t.Field(i).Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			m[tag] = toMap(v.Field(i))
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toMap(v.Index(i))
		}
		return out
	case reflect.Map:
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[k.String()] = toMap(v.MapIndex(k))
		}
		return m
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return time.Duration(v.Int()).String()
	}
	return v.Interface()
}

// collectTags maps lower-cased dotted keys to their camelCase spelling.
func collectTags(out map[string]string, prefix string, v any) {
	t := reflect.TypeOf(v)
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("mapstructure")
		if tag == "" {
			continue
		}
		key := prefix + tag
		out[strings.ToLower(key)] = key
		if ft := t.Field(i).Type; ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)) {
			collectTags(out, key+".", reflect.Zero(ft).Interface())
		}
	}
}
