"""The house keeps its rooms: imports run one way, and no module reaches into another's privates.

    config < formats < storage < net < archiver, mirror < cli

A module may import its own room and the rooms below it. archiver and mirror stand side by
side and never import each other. Inside mirror: pages is under replay, export and publish;
replay and export never import each other; publish may use export. (docs/architecture.md
draws the same map.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "refuge"
LEVELS = {"config": 0, "formats": 1, "storage": 2, "net": 3, "archiver": 4, "mirror": 4, "cli": 5}
MIRROR_ALLOWED = {  # inside mirror/: which parts each part may import
    "pages": {"pages"},
    "replay": {"pages", "replay"},
    "export": {"pages", "export"},
    "publish": {"pages", "export", "publish"},
}
MAX_LINES = 420


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for each refuge import in PATH."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([target] if target else []))
            found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
    return found


def room(module: str) -> tuple[str, str]:
    """('mirror', 'replay') for refuge.mirror.replay.app; ('storage', '') for refuge.storage."""
    parts = module.split(".")
    return (parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 and parts[1] == "mirror" else "")


@pytest.mark.parametrize("path", modules(), ids=lambda p: module_name(p))
def test_imports_run_one_way(path: Path) -> None:
    here, here_part = room(module_name(path))
    for target, _names, line in imports(path):
        if not target.startswith("refuge.") or target == "refuge":
            continue
        there, there_part = room(target)
        where = f"{path.relative_to(SRC)}:{line} imports {target}"
        if here not in LEVELS:
            continue  # refuge/__init__.py
        assert LEVELS[there] <= LEVELS[here], f"{where}: {there} is above {here}"
        assert not (LEVELS[there] == LEVELS[here] and there != here), f"{where}: {there} is beside {here}"
        if here == "mirror" and there == "mirror" and here_part in MIRROR_ALLOWED:
            assert there_part in MIRROR_ALLOWED[here_part] | {""}, f"{where}: mirror.{here_part} may not use it"


@pytest.mark.parametrize("path", modules(), ids=lambda p: module_name(p))
def test_no_module_takes_another_modules_private_names(path: Path) -> None:
    for target, names, line in imports(path):
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        hidden = [p for p in target.split(".") if p.startswith("_") and p != "__future__"]
        assert not private and not hidden, f"{path.relative_to(SRC)}:{line} imports {private or target}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: module_name(p))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines: give part of it a module of its own"


def test_every_room_says_what_it_is_for() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40 and "TODO" not in doc, f"{init.relative_to(SRC)} needs a docstring"


def test_the_rooms_are_the_ones_drawn() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert rooms == set(LEVELS)
    assert {p.name for p in (PACKAGE / "mirror").iterdir() if (p / "__init__.py").exists()} == set(MIRROR_ALLOWED)
