"""Reading one YAML file safely: no object construction, keys as written, duplicate keys
refused, size, node-count and depth limits, and a line number for every field path."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError

MAX_NODES = 200_000
MAX_DEPTH = 60
MAX_BYTES = 10_000_000
Loc = tuple[str | int, ...]


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: much faster


class _KeysAsWritten(_BaseLoader):
    """Safe loader whose mapping keys are the text as written ('NO', 'on' stay strings,
    not YAML 1.1 booleans) and which refuses duplicate keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "expected a mapping", node.start_mark)
        self.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key: Any = key_node.value
            else:
                raise yaml.constructor.ConstructorError(
                    None, None, "mapping keys must be plain text", key_node.start_mark)
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (each key may appear once in a mapping)", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=deep)
        return out

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2018-02-30 as a date, 5000-digit ints
            raise yaml.constructor.ConstructorError(
                None, None, f"the value {str(getattr(node, 'value', ''))[:40]!r} cannot be read: {exc} "
                "(quote it if it is meant as text)", node.start_mark) from None


def fmt_loc(loc: Loc) -> str:
    """A field path as written in messages: products.X.deals[0].royalty."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse one file safely, returning data and a field-path -> line map."""
    label = str(path)
    loader = _KeysAsWritten(_read_text(path, label))
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise ScenarioError(f"the YAML is nested more than {MAX_DEPTH} levels deep; not a scenario", file=label) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"not valid YAML: {problem}", file=label, line=line) from None
    if node is None:
        raise ScenarioError("the file is empty; a scenario needs name, start, regions, indications, products", file=label)
    lines = _line_map(node, label)
    data = _construct(loader, node, lines, label)
    if not isinstance(data, dict):
        raise ScenarioError(f"a scenario must be a mapping of keys, got {type(data).__name__}", file=label, line=1)
    for key in data:
        if not isinstance(key, str):
            raise ScenarioError(f"keys must be text, got {key!r}", file=label, line=lines.get((), 1))
    return data, lines


def _read_text(path: Path, label: str) -> str:
    """The file's text: a regular file (not a device, pipe or socket, which could block or never
    end), at most MAX_BYTES (read no further) and UTF-8."""
    try:
        if not path.exists():
            raise ScenarioError(f"file not found: {label}", file=label)
        if path.is_dir():
            raise ScenarioError(f"expected a YAML file, got a directory: {label}", file=label)
        if not stat.S_ISREG(path.stat().st_mode):
            raise ScenarioError("not a regular file (a device, pipe or socket); a scenario is a YAML file",
                                file=label)
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=label[:300]) from None
    if len(raw) > MAX_BYTES:
        raise ScenarioError(f"file is larger than {MAX_BYTES // 1_000_000} MB; not a scenario", file=label)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"file is not valid UTF-8 (byte {exc.start}): save it as UTF-8", file=label
        ) from None


def _line_map(node: yaml.Node, label: str) -> dict[Loc, int]:
    """The line of every field path; refuses documents too deep or too large (alias bombs)."""
    lines: dict[Loc, int] = {}
    count = 0

    def walk(n: yaml.Node, loc: Loc) -> None:
        nonlocal count
        count += 1
        if len(loc) > MAX_DEPTH:
            raise ScenarioError(
                f"the YAML is nested more than {MAX_DEPTH} levels deep (a recursive alias?); refused",
                file=label, line=n.start_mark.line + 1)
        if count > MAX_NODES:
            raise ScenarioError(
                f"the YAML expands to more than {MAX_NODES} nodes (alias/anchor bomb?); refused",
                file=label,
            )
        lines.setdefault(loc, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                lines[loc + (key,)] = k.start_mark.line + 1
                walk(v, loc + (key,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, loc + (i,))

    walk(node, ())
    return lines


def _construct(loader: Any, node: yaml.Node, lines: dict[Loc, int], label: str) -> Any:
    """Python values of the document (a safe loader: no object construction)."""
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        at = [loc for loc, ln in lines.items() if ln == line and loc]
        raise ScenarioError(f"not valid YAML: {problem}", file=label, line=line,
                            path=fmt_loc(max(at, key=len)) if at else None) from None
    except RecursionError:
        raise ScenarioError("the YAML is nested too deeply; not a scenario", file=label) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2018-02-30 read as a date, 5000-digit ints
        raise ScenarioError(f"a value cannot be read: {exc} (quote it if it is meant as text)", file=label) from None
    finally:
        loader.dispose()
