"""normalize-locale: a weir transformer written in Python.

Upper-cases and trims the locale field ("md " -> "MD"), so analytics count one locale
once. Built with componentize-py into a component implementing weir's `transformer`
world; see build.sh.
"""

import json

import wit_world
from componentize_py_types import Err, Ok

FIELD = "locale"


class WitWorld(wit_world.WitWorld):
    def init(self, config: str) -> None:
        global FIELD
        try:
            settings = json.loads(config) if config.strip() else {}
        except ValueError as error:
            raise Err(f"config is not JSON: {error}")
        FIELD = settings.get("field", "locale")
        if not isinstance(FIELD, str):
            raise Err("`field` must be a string")

    def transform(self, batch):
        return [normalize(message.value) for message in batch]


def normalize(value: bytes):
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        return Err(f"value is not valid JSON: {error}")
    if not isinstance(document, dict):
        return Err("value is not a JSON object")
    locale = document.get(FIELD)
    if not isinstance(locale, str):
        return Err(f"field `{FIELD}` is missing or not a string")
    document[FIELD] = locale.strip().upper()
    return Ok(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
