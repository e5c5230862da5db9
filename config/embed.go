// Package config holds the shipped configuration file, embedded so the
// binary runs with sensible defaults when no file is given.
package config

import _ "embed"

// Default is config/bindery.yaml as shipped.
//
//go:embed bindery.yaml
var Default []byte
