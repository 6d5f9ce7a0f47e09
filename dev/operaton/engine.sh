#!/usr/bin/env bash
# The operaton development engine: dev/engine.sh operaton VERB [port] (see dev/engine.sh for the verbs,
# the environment and the files it writes).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../engine.sh" operaton "$@"
