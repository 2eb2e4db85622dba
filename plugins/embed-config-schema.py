#!/usr/bin/env python3
"""Appends a plugin's config.schema.json to its built component as the
`weir:config-schema` custom section, which weir reads (as the Rust SDK's
`config_schema!` embeds it): for the JavaScript and Python plugins' build scripts.
    embed-config-schema.py PLUGIN.wasm config.schema.json"""
import json
import sys


def leb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


wasm, schema_path = sys.argv[1:]
schema = open(schema_path, "rb").read()
json.loads(schema)  # a schema that is not JSON fails the build, not weir's start
name = b"weir:config-schema"
body = leb(len(name)) + name + schema
with open(wasm, "ab") as f:
    f.write(b"\x00" + leb(len(body)) + body)
