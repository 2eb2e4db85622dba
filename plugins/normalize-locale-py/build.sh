#!/usr/bin/env bash
# Builds normalize-locale-py.wasm with componentize-py (pinned, from PyPI).
#   plugins/normalize-locale-py/build.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT_DIR}"
tools="$out/.componentize-py"
if [ ! -x "$tools/bin/componentize-py" ]; then
    python3 -m pip install --quiet --target "$tools" componentize-py==0.25.1
fi
mkdir -p "$out"
cd "$here"
PYTHONPATH="$tools" "$tools/bin/componentize-py" -d ../../wit/0.1.0 -w transformer \
    componentize app -o "$out/normalize-locale-py.wasm"
# The config it takes, carried as the component's `weir:config-schema` section.
python3 "$here/../embed-config-schema.py" "$out/normalize-locale-py.wasm" "$here/config.schema.json"
