"""jsonq: read JSON — from a granted file, a granted environment variable, a
credential, a command's output or inline text — and turn values in it into
step outputs. A mixin written in Python on the wasmix SDK; it reaches only
what its step was granted, like any mixin.

    - jsonq:
        description: Read the cluster settings
        input:
          file: /cnab/app/settings.json   # or env: NAME, credential: NAME,
                                          # command: [prog, args...], text: "{...}"
        outputs:
          - name: region
            path: .cluster.region
"""

import json
import os

from wasmix_mixin import (
    Command, Diagnostic, Failure, Info, Mixin, Severity, credential, log, output, parse_step, reveal,
)

SOURCES = ["file", "env", "credential", "command", "text"]

STEP_SCHEMA = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["input", "outputs"],
    "properties": {
        "description": {"type": "string"},
        "input": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                "file": {"type": "string"},
                "env": {"type": "string"},
                "credential": {"type": "string"},
                "command": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "text": {"type": "string"},
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "path"],
                "properties": {
                    "name": {"type": "string"},
                    "path": {"type": "string"},
                    "sensitive": {"type": "boolean"},
                },
            },
        },
    },
})


def parse_path(path):
    """`.a.b[0]` as keys and indexes; None when it is not such a path."""
    if not path.startswith("."):
        return None
    parts = []
    rest = path[1:]
    while rest:
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0 or not rest[1:end].isdigit():
                return None
            parts.append(int(rest[1:end]))
            rest = rest[end + 1:]
        else:
            if rest.startswith("."):
                rest = rest[1:]
            cut = min([i for i in (rest.find("."), rest.find("[")) if i >= 0] or [len(rest)])
            if cut == 0:
                return None
            parts.append(rest[:cut])
            rest = rest[cut:]
    return parts


def select(doc, path):
    value = doc
    for part in parse_path(path):
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            raise Failure(f"{path}: nothing at {part!r} in the input")
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def read_input(source):
    (kind, where), = source.items()
    if kind == "file":
        try:
            with open(where, encoding="utf-8") as f:
                return f.read(), False
        except OSError as e:
            raise Failure(f"cannot read {where}: {e.strerror or e}; grant it with `grants: {{files: [...]}}`")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise Failure(f"environment variable {where} is not set or not granted; grant it with `grants: {{env: [{where}]}}`")
        return value, False
    if kind == "credential":
        return reveal(credential(where)), True
    if kind == "command":
        done = Command(where[0]).args(where[1:]).run_checked()
        return done.stdout_text(), False
    return where, False


class WitWorld(Mixin):
    def info(self):
        return Info(
            name="jsonq",
            version="0.1.0",
            summary="Turn values in JSON (a file, env var, credential, command output or text) into outputs; written in Python",
            step_schema=STEP_SCHEMA,
            config_schema="",
        )

    def lint(self, action, step):
        found = []
        for i, o in enumerate(parse_step(step).get("outputs", [])):
            if parse_path(o.get("path", "")) is None:
                found.append(Diagnostic(
                    code="jsonq-101",
                    severity=Severity.ERROR,
                    message=f"{o.get('path')!r} is not a path like .a.b[0]",
                    path=f"outputs[{i}].path",
                ))
        return found

    def execute(self, invocation):
        step = parse_step(invocation.step)
        text, secret = read_input(step["input"])
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise Failure(f"the input is not JSON: {e}")
        outputs = []
        for o in step["outputs"]:
            value = select(doc, o["path"])
            outputs.append(output(o["name"], value, sensitive=secret or o.get("sensitive", False)))
            log.debug(f"{o['name']} from {o['path']}")
        return outputs
