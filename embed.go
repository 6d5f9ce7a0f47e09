// Package camundawaitroom holds files embedded from the repository root: the shipped
// config.yaml, which is also the daemon's built-in default configuration.
package camundawaitroom

import _ "embed"

// DefaultConfigYAML is config.yaml as shipped: every key with its default.
//
//go:embed config.yaml
var DefaultConfigYAML []byte
