"""Dependencies point one way: proven by importing modules in a fresh interpreter.

Run-time checks catch what a module pulls in when imported; the source scans beside them
also catch imports hidden inside functions.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEADLESS = [
    "app.cli",
    "app.cli.parser",
    "app.cli.context",
    "app.cli.sessions",
    "app.cli.reading",
    "app.cli.export",
    "app.cli.admin",
    "app.textsafe",
    "app.services",
    "app.bootstrap",
    "app.config",
    "app.config_rules",
    "app.paths",
    "app.services.sessions",
    "app.services.reads",
    "app.clock",
    "app.hooks",
    "app.notify",
    "app.presenters",
    "app.cli_output",
    "app.demo",
    "storage.statements",
    "storage.unit",
    "storage.filing",
    "storage.outbox",
    "storage.sql",
    "storage.local",
    "storage.sqlite",
    "app.quick",
]
# Libraries that do I/O or belong to other layers; the domain may import none of them.
NOT_IN_DOMAIN = [
    "textual",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "boto3",
    "botocore",
    "pydantic",
    "pydantic_settings",
    "platformdirs",
    "asyncio",
    "sqlite3",
    "socket",
    "storage",
]
NOT_IN_STORAGE = ["textual", "app.tui", "app.services", "app.cli", "app.bootstrap", "app.demo"]


def _modules(package: str, root: Path) -> list[str]:
    found = [package]
    for info in pkgutil.walk_packages([str(root)], prefix=f"{package}."):
        if info.name == "storage.migrations.env":  # runs Alembic's context when imported
            continue
        found.append(info.name)
    return found


DOMAIN = _modules("app.domain", ROOT / "app" / "domain")
STORAGE = _modules("storage", ROOT / "storage")


def _loaded_after(*names: str, code: str = "") -> set[str]:
    """The module names present after importing `names` (then running `code`) in a new process."""
    script = "\n".join(
        [
            "import importlib, json, sys",
            "for name in sys.argv[1:]:",
            "    importlib.import_module(name)",
            code,
            "print('MODULES=' + json.dumps(sorted(sys.modules)))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def _present(loaded: set[str], package: str) -> list[str]:
    return sorted(m for m in loaded if m == package or m.startswith(package + "."))


def _imports(path: Path) -> list[str]:
    """Every module a source file imports, at any depth (absolute names)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.extend([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
    return names


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_modules_do_not_import_textual(module: str) -> None:
    loaded = _loaded_after(module)
    assert module in loaded
    assert _present(loaded, "textual") == []
    assert _present(loaded, "app.tui") == []


def test_the_domain_imports_nothing_of_ours_and_no_io_library() -> None:
    assert len(DOMAIN) > 5  # the package and its modules were found
    loaded = _loaded_after(*DOMAIN)
    for package in NOT_IN_DOMAIN:
        assert _present(loaded, package) == [], package
    ours = {m for m in loaded if m == "app" or m.startswith("app.")}
    assert ours == {"app", *DOMAIN}


@pytest.mark.parametrize("path", sorted((ROOT / "app" / "domain").glob("*.py")), ids=str)
def test_domain_sources_import_only_the_standard_library_and_the_domain(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        allowed = top in sys.stdlib_module_names or top == "__future__"
        allowed = allowed or name == "app.domain" or name.startswith("app.domain.")
        assert allowed, f"{path.name} imports {name}"


def test_storage_does_not_import_the_interfaces_or_the_services() -> None:
    loaded = _loaded_after(*STORAGE)
    assert "storage.sql" in loaded
    for package in NOT_IN_STORAGE:
        assert _present(loaded, package) == [], package


def test_storage_sources_use_only_the_domain_of_the_app() -> None:
    for path in sorted((ROOT / "storage").rglob("*.py")):
        for name in _imports(path):
            if name == "app" or name.startswith("app."):
                assert name.startswith("app.domain"), f"{path.relative_to(ROOT)} imports {name}"
            assert name.split(".")[0] != "textual", f"{path.relative_to(ROOT)} imports {name}"


def test_the_cli_module_alone_loads_no_database_or_ui_library() -> None:
    # `focus status` runs from shell prompts: SQLAlchemy and Textual are imported only on
    # the paths that need them.
    loaded = _loaded_after("app.cli")
    for package in ("sqlalchemy", "textual", "alembic", "aiosqlite", "storage.sql"):
        assert _present(loaded, package) == [], package


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["FOCUS_DB"] = str(tmp_path / "focus.db")
    env["FOCUS_NOTIFY__DESKTOP"] = "false"
    env["FOCUS_NOTIFY__BELL"] = "false"
    return env


def _run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, set[str]]:
    script = "\n".join(
        [
            "import json, sys",
            "from app.cli import main",
            f"rc = main({args!r})",
            "print('MODULES=' + json.dumps(sorted(sys.modules)))",
            "print('RC=' + str(rc))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    modules = set(json.loads(next(x for x in lines if x.startswith("MODULES="))[8:]))
    rc = int(next(x for x in lines if x.startswith("RC="))[3:])
    text = "\n".join(x for x in lines if not x.startswith(("MODULES=", "RC=")))
    return rc, text, modules


@pytest.mark.parametrize("command", ["status", "statusline"])
def test_quick_status_answers_without_sqlalchemy(command: str, cli_env: dict[str, str]) -> None:
    rc, _, _ = _run_cli(["start", "--minutes", "25", "--task", "layering", "--json"], cli_env)
    assert rc == 0

    rc, text, modules = _run_cli([command, "--json"], cli_env)
    assert rc == 0
    session = json.loads(text)["session"]
    assert session["status"] == "active" and session["task_title"] == "layering"
    assert _present(modules, "sqlalchemy") == []
    assert _present(modules, "textual") == []


def test_lifecycle_commands_load_no_orm_no_migrations_and_no_settings_library(
    cli_env: dict[str, str],
) -> None:
    """`focus pause` bound to a key costs a process start: no SQLAlchemy, Alembic or pydantic
    (only creating or upgrading a database runs Alembic)."""
    assert _run_cli(["start"], cli_env)[0] == 0 and _run_cli(["abandon"], cli_env)[0] == 0
    for args in (["start", "--minutes", "25"], ["pause"], ["resume"], ["complete"]):
        rc, _, modules = _run_cli(args, cli_env)
        assert rc == 0, args
        for package in ("sqlalchemy", "alembic", "pydantic", "textual", "platformdirs", "asyncio"):
            assert _present(modules, package) == [], (args, package)


@pytest.mark.parametrize("command", ["status", "statusline"])
def test_the_status_line_needs_neither_asyncio_nor_the_domain_nor_the_config(
    command: str, cli_env: dict[str, str]
) -> None:
    rc, _, _ = _run_cli(["start", "--minutes", "25"], cli_env)
    assert rc == 0
    script = (
        "import json, sys\n"
        "from app.quick import answer\n"
        f"rc = answer([{command!r}])\n"
        "print('MODULES=' + json.dumps(sorted(sys.modules)))\n"
        "print('RC=' + str(rc))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=cli_env, capture_output=True, text=True
    )
    lines = result.stdout.splitlines()
    assert "RC=0" in lines, result
    modules = set(json.loads(next(x for x in lines if x.startswith("MODULES="))[8:]))
    for package in (
        "asyncio",
        "app.domain",
        "app.config",
        "app.cli",
        "dataclasses",
        "platformdirs",
    ):
        assert _present(modules, package) == [], package
