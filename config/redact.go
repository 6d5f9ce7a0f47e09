package config

import (
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted stands in for a secret's value wherever configuration is shown.
const Redacted = "<redacted>"

// redactedValue is how a secret key's value is shown: DSNs keep everything but the password.
func redactedValue(key, v string) string {
	if v == "" {
		return ""
	}
	if strings.EqualFold(key, "store.dsn") {
		return RedactDSN(v)
	}
	return Redacted
}

var adoPassword = regexp.MustCompile(`(?i)((?:password|pwd)\s*=\s*)("[^"]*"|'[^']*'|\{[^}]*\}|[^;]*)`)

// RedactDSN hides the password of a connection string in URL form
// (scheme://user:pass@host/...), key=value form (password=...; pwd=...) or a password query
// parameter, and keeps the rest so an operator can still see where it points.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "pwd") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return strings.Replace(u.String(), "xxxxx", Redacted, -1)
	}
	return adoPassword.ReplaceAllString(dsn, "${1}"+Redacted)
}

// Redacted returns a copy of c with every secret replaced by Redacted (DSNs keep all but their
// password). Empty secrets stay empty so an operator can see they are unset.
func (c Config) Redacted() Config {
	out := c
	out.Store.Password = redactedValue("store.password", c.Store.Password)
	out.Store.DSN = redactedValue("store.dsn", c.Store.DSN)
	out.Camunda.Auth.Password = redactedValue("camunda.auth.password", c.Camunda.Auth.Password)
	out.Camunda.Auth.Token = redactedValue("camunda.auth.token", c.Camunda.Auth.Token)
	out.HTTP.AuthToken = redactedValue("http.authToken", c.HTTP.AuthToken)
	return out
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
