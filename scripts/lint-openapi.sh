#!/bin/sh
# Lints the OpenAPI document volantd serves with Redocly's linter.
#
# Redocly is installed into .cache/redocly (project-local, git-ignored) on
# first use; the document is dumped from rest.New by a Go test, so what is
# linted is exactly what /openapi.yaml serves. Config: rest/redocly.yaml.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
prefix="$root/.cache/redocly"
version=2.77.0
if [ ! -x "$prefix/node_modules/.bin/redocly" ]; then
	mkdir -p "$prefix"
	npm install --silent --no-audit --no-fund --prefix "$prefix" "@redocly/cli@$version"
fi
out="$root/.cache/openapi.yaml"
VOLANT_OPENAPI_OUT="$out" go test ./rest -run '^TestDumpOpenAPI$' -count=1 >/dev/null
"$prefix/node_modules/.bin/redocly" lint --config "$root/rest/redocly.yaml" "$out"
