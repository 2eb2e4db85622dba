#!/usr/bin/env bash
# Builds mask-ip-js.wasm with componentize-js (pinned, from npm). The CLI is run directly
# (jco's wrapper fails on file access here); WASI http is disabled: the plugin needs none.
#   plugins/mask-ip-js/build.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "${1:?usage: build.sh OUT_DIR}" && cd "$1" && pwd)"
tools="$out/.componentize-js"
if [ ! -f "$tools/node_modules/@bytecodealliance/componentize-js/src/cli.js" ]; then
    mkdir -p "$tools"
    cp "$here/package.json" "$tools/"
    (cd "$tools" && npm install --silent --no-audit --no-fund)
fi
node "$tools/node_modules/@bytecodealliance/componentize-js/src/cli.js" "$here/mask-ip.js" \
    --wit "$here/../../wit/0.1.0" --world-name transformer -d http fetch-event \
    -o "$out/mask-ip-js.wasm"
# The config it takes, carried as the component's `weir:config-schema` section.
python3 "$here/../embed-config-schema.py" "$out/mask-ip-js.wasm" "$here/config.schema.json"
