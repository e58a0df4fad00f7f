"""Pulumi's secret envelope, opened: a state export (`pulumi stack export --show-secrets`) marks each secret value as
`{SIG_KEY: SECRET_SIG, "plaintext": "<the value as JSON text>"}` (or `"value"` on the wire). Readers of a state (the
drills' service outputs, the data standby's `bascule_data`) take the value out and keep a list of what was secret,
so it can be redacted wherever it would be written."""

from __future__ import annotations

import contextlib
import json
from typing import Any

SIG_KEY = "4dabf18193072939515e22adb298388d"
"""`pulumi.runtime.rpc._special_sig_key` (sdk/python/lib/pulumi/runtime/rpc.py): the key that marks a special value."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
"""`pulumi.runtime.rpc._special_secret_sig`: the marker's value for a secret."""


def unwrap_secrets(value: Any, secrets: list[Any]) -> Any:
    """`value` with Pulumi's secret envelopes removed; each secret's value is appended to `secrets`."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            inner = value.get("value")
            if "plaintext" in value:  # a state exported with --show-secrets: the value as JSON text
                with contextlib.suppress(TypeError, ValueError):
                    inner = json.loads(value["plaintext"])
            secrets.append(inner)
            return unwrap_secrets(inner, secrets)
        return {k: unwrap_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v, secrets) for v in value]
    return value
