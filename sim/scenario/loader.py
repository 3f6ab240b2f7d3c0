"""Load a scenario: safe YAML with line numbers, `extends:` merging, validation.

Every problem becomes a ScenarioError naming the file, the line where known, the
field path and what was expected, so `sim validate` can list them all at once.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError, did_you_mean
from sim.scenario.checks import check_corr, check_references, scenario_warnings
from sim.scenario.events import EVENT_TYPES
from sim.scenario.inputs import input_names
from sim.scenario.schema import Scenario
from sim.scenario.yamlfile import Loc, fmt_loc, read_yaml


@dataclass
class Origin:
    """Where each field path of the merged scenario came from (file, line)."""

    lines: dict[Loc, tuple[str, int]] = field(default_factory=dict)

    def lookup(self, loc: Loc) -> tuple[str | None, int | None]:
        """The file and line of a field path (or of its nearest written parent)."""
        for n in range(len(loc), -1, -1):
            hit = self.lines.get(tuple(loc[:n]))
            if hit:
                return hit
        return (None, None)

    def located(self, found: list[tuple[Loc, str]]) -> list[ScenarioError]:
        """Each (field path, message) as an error naming its file, line and path."""
        return [ScenarioError(msg, file=self.lookup(loc)[0], line=self.lookup(loc)[1], path=fmt_loc(loc))
                for loc, msg in found]


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its merged data, the files it came from and their hash."""

    scenario: Scenario
    path: str
    data: dict[str, Any]
    sha256: str
    files: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # valid but probably not meant: "file:line at 'path': message"


def _merge(base: Any, over: Any, loc: Loc, origin: Origin, over_lines: dict[Loc, int], label: str) -> Any:
    """Deep-merge mappings; the variant wins; `null` in the variant removes the key. A distribution
    given with its `dist` is one value and replaces the base's (merging a uniform over a pert kept
    the pert's mode and failed)."""
    if isinstance(base, dict) and isinstance(over, dict) and "dist" not in over:
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
                continue
            out[k] = _merge(base.get(k), v, loc + (k,), origin, over_lines, label)
        return out
    # Replaced wholesale: the variant's lines now describe this subtree.
    for sub, line in over_lines.items():
        if sub[: len(loc)] == loc:
            origin.lines[sub] = (label, line)
    return over


def _resolve(path: Path, chain: tuple[Path, ...], origin: Origin) -> tuple[dict[str, Any], list[str]]:
    try:
        path = path.resolve() if path.exists() else path
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=str(path)[:300]) from None
    if path in chain:
        cycle = " -> ".join(str(p) for p in chain + (path,))
        raise ScenarioError(f"'extends' forms a cycle: {cycle}", file=str(chain[-1]), path="extends")
    data, lines = read_yaml(path)
    label = str(path)
    if data and not set(data) & (set(Scenario.model_fields) | {"extends"}):
        # its keys are not echoed: a file that is no scenario may hold anything (a password file)
        raise ScenarioError(f"not a scenario: none of its {len(data)} top-level key(s) is a scenario field "
                            f"(expected some of name, start, regions, indications, products, extends)", file=label)
    parent = data.pop("extends", None)
    if parent is None:
        for loc, line in lines.items():
            origin.lines[loc] = (label, line)
        return data, [label]
    ext_line = lines.get(("extends",))
    parents = [parent] if isinstance(parent, str) else parent
    if not isinstance(parents, list) or not parents or not all(isinstance(p, str) for p in parents):
        raise ScenarioError("expected a file name or a list of file names (relative to this file), merged in "
                            "order", file=label, path="extends", line=ext_line)
    base: dict[str, Any] = {}
    files: list[str] = []
    for name in parents:  # each part merged over the ones before it, then this file over them all
        _check_part_name(name, label, ext_line)
        parent_path = path.parent / name
        try:
            parent_exists = parent_path.exists()
        except OSError:
            parent_exists = False
        if not parent_exists:
            raise ScenarioError(f"the scenario it extends does not exist: {parent_path}", file=label, path="extends",
                                line=ext_line)
        part, part_files = _resolve(parent_path, chain + (path,), origin)
        base = _merge(base, part, (), origin, {}, label) if base else part
        files += [f for f in part_files if f not in files]
    merged = _merge(base, data, (), origin, lines, label)
    for loc, line in lines.items():  # keys the variant adds or overrides
        origin.lines.setdefault(loc, (label, line))
        if loc and loc[0] != "extends":
            origin.lines[loc] = (label, line)
    return merged, files + [label]


def _check_part_name(name: str, label: str, line: int | None) -> None:
    """A part is named relative to the file that extends it and is a .yaml/.yml file: an absolute
    path, a home folder or another kind of file (/dev/zero, a password file) is refused unread."""
    if Path(name).is_absolute() or name.startswith("~") or "\x00" in name:
        raise ScenarioError(f"expected a path relative to this file's folder, got {name[:200]!r}",
                            file=label, path="extends", line=line)
    if Path(name).suffix.lower() not in (".yaml", ".yml"):
        raise ScenarioError(f"expected a scenario file ending in .yaml or .yml, got {name[:200]!r}",
                            file=label, path="extends", line=line)


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _model_at(loc: Loc, data: Any = None) -> type[BaseModel] | None:
    """The pydantic model class that owns the last element of `loc` (for 'did you mean')."""
    tp: Any = Scenario
    node = data
    for part in loc[:-1]:
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            models = [a for a in map(_unwrap, typing.get_args(tp)) if isinstance(a, type) and issubclass(a, BaseModel)]
            pick = [m for m in models if part in m.model_fields or _tag(m) == part]
            if not pick:
                return None
            if _tag(pick[0]) == part:
                tp = pick[0]
                continue
            tp = pick[0]
            origin = None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part in tp.model_fields:
                tp = tp.model_fields[part].annotation
            else:
                return None
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin is list:
            tp = typing.get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        models = [a for a in map(_unwrap, typing.get_args(tp)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(node, dict) and "type" in node:
            tagged = [m for m in models if _tag(m) == node["type"]]
            if tagged:
                return tagged[0]
        return models[0] if len(models) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _tag(model: type[BaseModel]) -> str | None:
    f = model.model_fields.get("type")
    if f is None:
        return None
    args = typing.get_args(f.annotation)
    return args[0] if args else None


_PATH_TAGS = frozenset({"number", "path"})  # the branches of a field that may be a time path
_UNION_TAGS = frozenset(EVENT_TYPES) | {"str", "float", "int", "list", "dict"} | _PATH_TAGS


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop pydantic's union/function tags from a loc so it matches the YAML."""
    out: list[str | int] = []
    cur = data
    for n, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur or isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and part == "points":  # a time path written as its list of points
            continue
        elif isinstance(cur, dict | list):
            tag = isinstance(part, str) and (part.startswith("function-") or "[" in part
                                             or part in _UNION_TAGS)
            if (n < len(loc) - 1 or part in _PATH_TAGS or part == "[key]") and tag:
                continue
            out.append(part)
            cur = None
        else:
            continue
    return tuple(out)


def _expected_names(err: Any) -> list[str]:
    """The names a literal_error allows (pydantic gives them as "'a', 'b' or 'c'")."""
    expected = str(err.get("ctx", {}).get("expected", ""))
    return [x.strip().strip("'") for x in expected.replace(" or ", ", ").split(",") if x.strip()]


def _pydantic_problems(exc: ValidationError, data: dict[str, Any], origin: Origin) -> list[ScenarioError]:
    problems: list[ScenarioError] = []
    seen: set[tuple[Loc, str]] = set()
    for err in exc.errors():
        loc = _clean_loc(err["loc"], data)
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            model = _model_at(loc, data)
            allowed = sorted(model.model_fields) if model else []
            msg = f"unknown key '{loc[-1]}'{did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                msg += f"; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            msg = f"missing required field '{loc[-1]}'"
        elif kind == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "")
            msg = f"unknown event type {tag!r}{did_you_mean(tag, EVENT_TYPES)}; {msg}"
        elif kind == "literal_error" and err["loc"] and err["loc"][-1] == "[key]":  # a name from a fixed list
            msg = f"unknown name '{loc[-1]}'{did_you_mean(str(loc[-1]), _expected_names(err))}; {msg}"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            msg = f"expected a mapping of keys, got {err.get('input')!r}"
        key = (loc, msg)
        if key in seen:
            continue
        seen.add(key)
        file, line = origin.lookup(loc)
        problems.append(ScenarioError(msg, file=file, line=line, path=fmt_loc(loc)))
    return problems


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> LoadedScenario:
    """Read, merge and validate a scenario file; raise ScenarioError listing every problem."""
    p = Path(path)
    origin = Origin()
    data, files = _resolve(p, (), origin)
    if overrides:
        data = _merge(data, overrides, (), origin, {}, "<overrides>")
    _locate_posterior(data, origin, p)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc, data, origin)
        raise ScenarioError("invalid scenario", file=str(p), problems=problems) from None
    problems = origin.located(check_references(scenario))
    if not problems and scenario.correlations:
        problems = origin.located(_check_correlations(scenario))
    if not problems and scenario.posterior is not None:
        problems = origin.located(_check_posterior(scenario))
    if problems:
        raise ScenarioError("invalid scenario", file=str(p), problems=problems)
    canonical = json.dumps(data, sort_keys=True, default=str).encode()
    return LoadedScenario(
        scenario=scenario,
        path=str(p),
        data=data,
        sha256=hashlib.sha256(canonical).hexdigest(),
        files=tuple(files),
        warnings=tuple(w.render() for w in origin.located(scenario_warnings(scenario))),
    )


def _locate_posterior(data: dict[str, Any], origin: Origin, top: Path) -> None:
    """A posterior file is named relative to the scenario file that names it: store its absolute
    path and its hash in the data (workers rebuild the scenario from it; a new fit is a new hash)."""
    post = data.get("posterior")
    if not isinstance(post, dict) or not isinstance(post.get("file"), str):
        return
    from sim.scenario.posterior import file_sha256

    where = origin.lookup(("posterior", "file"))[0]
    base = Path(where).parent if where and not where.startswith("<") else top.parent
    path = (base / post["file"]).resolve()
    if not path.is_file():
        raise ScenarioError(f"posterior file not found: {path}", file=where or str(top),
                            line=origin.lookup(("posterior", "file"))[1], path="posterior.file")
    data["posterior"] = {**post, "file": str(path), "sha256": file_sha256(str(path))}


def _check_posterior(scn: Scenario) -> list[tuple[Loc, str]]:
    """The posterior's inputs are uncertain inputs of this scenario, and its file holds them."""
    from sim.scenario.posterior import read_posterior

    post = scn.posterior
    assert post is not None and post.sha256 is not None
    known = set(input_names(scn))
    bad: list[tuple[Loc, str]] = [(("posterior", "inputs", j), f"'{n}' is not an uncertain input of this scenario{did_you_mean(n, known)}")
           for j, n in enumerate(post.inputs) if n not in known]
    if bad:
        return bad
    try:
        read_posterior(post.file, post.sha256, tuple(post.inputs))
    except ScenarioError as exc:
        return [(("posterior", "file"), f"{post.file}: {exc.message}")]
    return []


def _check_correlations(scn: Scenario) -> list[tuple[Loc, str]]:
    """Correlated inputs must be uncertain inputs of this scenario; the matrix must be valid."""
    import numpy as np

    known = set(input_names(scn))
    out: list[tuple[Loc, str]] = []
    seen: dict[str, int] = {}
    for k, c in enumerate(scn.correlations):
        for j, name in enumerate(c.inputs):
            if name not in known:
                out.append((("correlations", k, "inputs", j), f"'{name}' is not an uncertain input of this "
                            f"scenario{did_you_mean(name, known)}"))
            elif name in seen:
                out.append((("correlations", k, "inputs", j), f"'{name}' is already in correlations[{seen[name]}]"))
            seen.setdefault(name, k)
        try:
            check_corr(np.asarray(c.as_matrix(), dtype=float), len(c.inputs))
        except ValueError as exc:
            out.append((("correlations", k), str(exc)))
    return out
