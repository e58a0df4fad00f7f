"""The one way Bascule reads a file a user hands it: bounded, strictly decoded, and failing in one line.

Stack files, exports, previews, waivers and policy configs come from pull requests, CI artifacts and other
tools: truncated, in another encoding, hostile. Every reader goes through here, so each of them gets the same
limits (size, nesting depth, YAML aliases, total size once aliases are expanded) and the same kind of error:
`FILE: PATH: what is wrong`, where PATH is the place inside the document (`deployment.resources[3].inputs`)
or its line and column when the text itself does not parse. Nothing here imports the rest of Bascule.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import json.scanner
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bascule.io.escaping import quoted

MAX_BYTES = 256 * 1024 * 1024
"""Larger than any stack export we have seen (100,000 resources is about 90 MiB), small enough to fit in memory."""
MAX_YAML_BYTES = 16 * 1024 * 1024
"""Stack files, waivers: written by people, a few KiB; PyYAML reads about 1 MiB/s, so more is an attack or a mistake."""
MAX_DEPTH = 100
"""Pulumi state nests a few levels (resource -> inputs -> policy document -> statements); 100 is generous."""
MAX_NODES = 1_000_000
"""Values a YAML document may stand for once aliases are expanded: stops an alias bomb before anything expands it."""
MAX_ALIASES = 1_000
"""YAML aliases per document: stack files use a handful of anchors for shared settings, a bomb uses many."""


class InputError(Exception):
    """A file the user gave cannot be used; the message is one line naming the file and the place in it."""


def location(parts: Iterable[str | int]) -> str:
    """`["deployment", "resources", 3, "urn"]` -> `deployment.resources[3].urn`, as the user would write it."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def at(path: Path, parts: Iterable[str | int], message: str) -> InputError:
    """An error about the value at `parts` inside `path`."""
    where = location(parts)
    return InputError(f"{path}: {where + ': ' if where else ''}{message}")


def read_text(path: Path, what: str, limit: int = MAX_BYTES) -> str:
    """The file as text: at most `limit` bytes, UTF-8 (a BOM is allowed), not empty."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit // (1024 * 1024)} MiB; not a {what} Bascule reads")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}:{line}: not UTF-8 text (byte {exc.start}: 0x{data[exc.start]:02x}); save the {what} as UTF-8"
        ) from None
    if not text.strip():
        raise InputError(f"{path}: empty file; expected a {what}")
    return text


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key given twice (json.loads would keep the last one silently)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


def _duplicate_line(text: str, key: str) -> int:
    """The line of the second `key` in the first JSON object that has it twice (the error path only: slow).

    Python's C scanner says neither where an object starts nor where a key is, so the text is scanned again with
    the pure-Python one, whose `parse_object` can be wrapped to learn each object's span.
    """
    decoder: Any = json.JSONDecoder(object_pairs_hook=_unique_pairs)  # its scanner's hooks are untyped attributes
    original = decoder.parse_object
    found: list[int] = []

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> Any:
        start = s_and_end[1]
        try:
            return original(s_and_end, *args)
        except _DuplicateKey as exc:
            if not found and exc.key == key:
                found.append(_second_key_at(text, start, key))
            raise

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]  # untyped, pure Python
    with contextlib.suppress(ValueError, RecursionError):
        decoder.decode(text)
    return text.count("\n", 0, found[0]) + 1 if found else 1


def _second_key_at(text: str, start: int, key: str) -> int:
    """Where `key` appears the second time among the keys of the object whose `{` is just before `start`."""
    depth, seen, index = 0, 0, start
    while index < len(text):
        char = text[index]
        if char == '"':
            end = json.decoder.scanstring(text, index + 1)[1]  # type: ignore[attr-defined]
            rest = text[end:].lstrip()
            if depth == 0 and rest.startswith(":") and json.loads(text[index:end]) == key:
                seen += 1
                if seen == 2:
                    return index
            index = end
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            if depth == 0:
                break
            depth -= 1
        index += 1
    return start


_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A `\\udXXX` escape in JSON or YAML text: the only way a document's text can hold a surrogate (UTF-8 cannot)."""


def check_text(path: Path, doc: Any, text: str) -> None:
    """Refuse a string holding an unpaired surrogate (`"\\ud800"`): it is no character, so it cannot be printed,
    written as UTF-8 or sent to a provider, and it crashed `check` and `plan` when they printed it.

    A paired escape (`\\ud83d\\ude00`, one emoji in JSON) decodes to one character and is fine. The document is
    walked only when its text holds such an escape at all, so a 90 MiB export costs one regular-expression scan.
    """
    if not _SURROGATE_ESCAPE.search(text):
        return
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, Mapping):
            texts = [key for key in value if isinstance(key, str)]
            stack.extend((child, (*where, str(key))) for key, child in value.items())
        elif isinstance(value, list):
            texts = []
            stack.extend((child, (*where, index)) for index, child in enumerate(value))
        else:
            texts = []
        for item in texts:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise at(path, where, f"holds an unpaired surrogate (\\u{ord(item[exc.start]):04x}), which is not "
                         "text; fix the escape") from None  # fmt: skip


def read_json(path: Path, what: str) -> Any:
    text = read_text(path, what)
    try:
        doc = json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); truncated?") from None
    except _DuplicateKey as exc:
        line = _duplicate_line(text, exc.key)
        raise InputError(f"{path}:{line}: key {json.dumps(exc.key)[:80]} given twice in one object; keep one") from None
    except RecursionError:
        raise InputError(f"{path}: nested deeper than {MAX_DEPTH} levels; not a {what}") from None
    check_depth(path, doc)
    check_text(path, doc, text)
    return doc


def read_json_lines(path: Path, what: str) -> list[tuple[int, Any]]:
    """Each complete line of an append-only JSON-lines file with its line number; an empty file is no lines.

    A torn last line (the writer killed mid-append, so the file does not end in a newline) is skipped: that
    record was never finished. Any other line that is not JSON is an `InputError` naming `FILE:LINE`.
    """
    if path.is_file() and path.stat().st_size == 0:
        return []
    text = read_text(path, what)  # a missing file or a folder is its one-line error
    lines = text.splitlines()
    values = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values.append((number, json.loads(line)))
        except (json.JSONDecodeError, RecursionError) as exc:
            if number == len(lines) and not text.endswith("\n"):
                break
            reason = getattr(exc, "msg", "nested too deeply")
            raise InputError(f"{path}:{number}: not JSON ({reason}); fix or remove that line") from None
    return values


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading as Pulumi reads stack config, with a cap on aliases and a line number on values
    its constructors reject.

    Pulumi reads config values as strings (go-yaml into Go strings): an unquoted `2024-01-01` is the text
    `2024-01-01`, not a date, and `!!binary` is the text its base64 stands for; a key given twice in one mapping is
    an error ("mapping key ... already defined"), not last-wins. PyYAML's defaults (a `date`, `bytes`, last-wins)
    crashed `plan` and `check` or silently dropped a setting.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (an alias bomb?)", event.start_mark
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # `<<: *base` may be overridden key by key: that is what a merge is for
                key = self.construct_object(key_node)
                if key in seen:
                    first = seen[key]
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {quoted(key_node.value)} given twice in one mapping (first on line "
                        f"{first.line + 1}); keep one", key_node.start_mark,
                    )  # fmt: skip
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: Any) -> str:  # type: ignore[override]
        return str(self.construct_scalar(node))

    def construct_yaml_binary(self, node: Any) -> str:  # type: ignore[override]
        try:
            return base64.b64decode(str(self.construct_scalar(node)).encode("ascii"), validate=False).decode("utf-8")
        except (binascii.Error, UnicodeError):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "!!binary value is not base64 of UTF-8 text (Pulumi reads config values as text)",
                node.start_mark,
            ) from None

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # `2027-02-30`, a huge exponent, ...
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {quoted(node.value)}: {exc}", node.start_mark
            ) from None


_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _BoundedLoader.construct_yaml_timestamp)
_BoundedLoader.add_constructor("tag:yaml.org,2002:binary", _BoundedLoader.construct_yaml_binary)


def read_yaml(path: Path, what: str) -> Any:
    text = read_text(path, what, MAX_YAML_BYTES)
    try:
        doc = yaml.load(text, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise InputError(f"{path}: nested deeper than {MAX_DEPTH} levels; not a {what}") from None
    check_graph(path, doc)
    check_text(path, doc, text)
    return doc


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def _deepest_path(doc: Any) -> tuple[str | int, ...]:
    """The path to a value nested MAX_DEPTH levels down, for the error message (only called on that error)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    trail: list[tuple[str | int, ...]] = [()]
    while stack:
        value, level = stack.pop()
        here = trail.pop()
        if level >= MAX_DEPTH:
            return here
        items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else []
        for key, child in items:
            if isinstance(child, Mapping | list):
                stack.append((child, level + 1))
                trail.append((*here, key if isinstance(key, int) else str(key)))
    return ()


def check_depth(path: Path, doc: Any) -> None:
    """Refuse a tree nested deeper than MAX_DEPTH: later code (validation, copies, rules) recurses into it.

    One level at a time, so the walk is a few list comprehensions per level rather than a Python step per
    value: on a 100,000-resource export it took longer than parsing the JSON. The JSON and YAML readers
    make only dicts and lists, so those are the containers walked.
    """
    level = [doc] if isinstance(doc, _CONTAINERS) else []
    depth = 0
    while level:
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v) if isinstance(c, _CONTAINERS)]
        depth += 1
        if level and depth >= MAX_DEPTH:
            raise at(path, _deepest_path(doc), f"nested deeper than {MAX_DEPTH} levels")


_CONTAINERS = (dict, list)


def check_graph(path: Path, doc: Any) -> None:
    """Refuse a YAML document that contains itself, or that stands for more than MAX_NODES values.

    Aliases make a YAML document a graph: a few lines can stand for billions of values (every later
    `json.dumps`, copy or validation expands them) or for a list that contains itself. Sizes are computed
    once per distinct node (post-order, memoised by identity), so the check costs what the file holds,
    not what it expands to.
    """
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:
        value, finished = stack.pop()
        key = id(value)
        children = _children(value)
        if finished:
            size[key] = 1 + sum(size.get(id(child), 1) for child in children)
            open_nodes.discard(key)
            if size[key] > MAX_NODES:
                raise at(path, (), f"stands for more than {MAX_NODES:,} values once its aliases are expanded")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise at(path, (), "contains itself (a recursive YAML alias)")
        open_nodes.add(key)
        stack.append((value, True))
        stack.extend((child, False) for child in children if isinstance(child, Mapping | list))
    check_depth(path, doc)


def mapping(path: Path, parts: tuple[str | int, ...], value: Any, what: str = "an object") -> Mapping[str, Any]:
    """`value` as a mapping, or the one-line error saying where something else was found."""
    if type(value) is not dict and not isinstance(value, Mapping):  # the exact type first: ABC checks are slow
        raise at(path, parts, f"expected {what}, got {_kind(value)}")
    return value


def sequence(path: Path, parts: tuple[str | int, ...], value: Any, what: str = "a list") -> list[Any]:
    if not isinstance(value, list):
        raise at(path, parts, f"expected {what}, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "nothing (null)"}  # fmt: skip
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)
