"""Structural check of a docker compose file, for machines without a Docker engine.

    python scripts/check_compose.py docker/compose.yaml

Checks: the file is a mapping with a non-empty `services` mapping; every service is a mapping
with `image` or `build`; `depends_on` (list or mapping) names existing services other than
itself; `environment` (mapping or list of KEY[=VALUE]) has non-empty string keys and scalar
values; `ports` and `volumes` are lists; top-level `volumes`/`networks` used by services exist.
Exit 0 when clean, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _check_environment(name: str, env: Any, problems: list[str]) -> None:
    where = f"services.{name}.environment"
    if isinstance(env, dict):
        for key, value in env.items():
            if not isinstance(key, str) or not _ENV_KEY.match(key):
                problems.append(f"{where}: key {key!r} is not a valid variable name string")
            if value is not None and not isinstance(value, (str, int, float, bool)):
                problems.append(
                    f"{where}.{key}: value must be a scalar, got {type(value).__name__}"
                )
    elif isinstance(env, list):
        for item in env:
            if not isinstance(item, str):
                problems.append(f"{where}: list item {item!r} must be a 'KEY=VALUE' string")
                continue
            key = item.split("=", 1)[0]
            if not _ENV_KEY.match(key):
                problems.append(f"{where}: {item!r} has no valid variable name before '='")
    else:
        problems.append(f"{where}: must be a mapping or a list")


def _check_depends_on(name: str, deps: Any, services: dict, problems: list[str]) -> None:
    where = f"services.{name}.depends_on"
    if isinstance(deps, dict):
        names = list(deps)
        for dep, cond in deps.items():
            if not isinstance(cond, dict):
                problems.append(f"{where}.{dep}: must be a mapping (e.g. condition: ...)")
    elif isinstance(deps, list):
        names = deps
    else:
        problems.append(f"{where}: must be a list or a mapping")
        return
    for dep in names:
        if not isinstance(dep, str) or dep not in services:
            problems.append(f"{where}: {dep!r} is not a service in this file")
        elif dep == name:
            problems.append(f"{where}: a service cannot depend on itself")


def check(doc: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(doc, dict):
        return ["top level: must be a mapping"]
    services = doc.get("services")
    if not isinstance(services, dict) or not services:
        return ["services: missing or empty (must be a mapping of service names)"]
    top_volumes = doc.get("volumes") or {}
    top_networks = doc.get("networks") or {}
    for name, svc in services.items():
        if not isinstance(name, str):
            problems.append(f"services: name {name!r} must be a string")
        if not isinstance(svc, dict):
            problems.append(f"services.{name}: must be a mapping")
            continue
        if "image" not in svc and "build" not in svc:
            problems.append(f"services.{name}: needs `image` or `build`")
        if "depends_on" in svc:
            _check_depends_on(name, svc["depends_on"], services, problems)
        if "environment" in svc:
            _check_environment(name, svc["environment"], problems)
        for key in ("ports", "volumes"):
            if key in svc and not isinstance(svc[key], list):
                problems.append(f"services.{name}.{key}: must be a list")
        for vol in svc.get("volumes") or []:
            # "named:/path[:mode]" refers to a top-level volume; "./x:/y" or "/x:/y" is a bind
            if isinstance(vol, str) and ":" in vol:
                source = vol.split(":", 1)[0]
                named = source and not source.startswith((".", "/", "~", "$"))
                if named and source not in top_volumes:
                    problems.append(
                        f"services.{name}.volumes: named volume {source!r} "
                        "is not declared under top-level volumes"
                    )
        nets = svc.get("networks")
        for net in (nets if isinstance(nets, (list, dict)) else []) or []:
            if net != "default" and net not in top_networks:
                problems.append(
                    f"services.{name}.networks: {net!r} is not declared under top-level networks"
                )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: check_compose.py COMPOSE_FILE", file=sys.stderr)
        return 2
    path = Path(argv[1])
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        print(f"{path}: cannot load: {exc}", file=sys.stderr)
        return 1
    problems = check(doc)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: ok ({len(doc['services'])} services)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
