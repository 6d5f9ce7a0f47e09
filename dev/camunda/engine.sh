#!/usr/bin/env bash
# The camunda development engine: dev/engine.sh camunda VERB [port] (see dev/engine.sh for the verbs,
# the environment and the files it writes).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../engine.sh" camunda "$@"
