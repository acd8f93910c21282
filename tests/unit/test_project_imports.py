"""Every import of a project module, at the top of a file or inside a function (the DAGs, plugins, the secrets
backend and the CLIs import lazily), names a module that exists and names it has: a moved module can't leave a
stale import behind that only fails when that code path runs."""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.support.stack import ROOT

PACKAGES = ("dags", "plugins", "include", "jobs", "devstack", "bench", "tests")
PLUGIN_MODULES = {p.stem for p in (ROOT / "plugins").glob("*.py")}


def _project_imports() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    top = node.module.split(".")[0]
                    if top in PACKAGES or top in PLUGIN_MODULES:
                        names = [a.name for a in node.names if a.name != "*"]
                        found.append((str(path.relative_to(ROOT)), node.lineno, node.module, names))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] in PACKAGES:
                            found.append((str(path.relative_to(ROOT)), node.lineno, alias.name, []))
    return found


def test_the_scan_finds_the_lazy_imports():
    modules = {module for _, _, module, _ in _project_imports()}
    assert "include.pipeline.write" in modules  # imported inside the DAGs' task functions
    assert "include.kafka.security" in modules  # imported inside the secrets backend's method


@pytest.mark.parametrize(("where", "line", "module", "names"), _project_imports(), ids=lambda v: str(v))
def test_every_project_import_resolves(where, line, module, names, monkeypatch):
    if module.split(".")[0] in PLUGIN_MODULES:
        monkeypatch.syspath_prepend(str(ROOT / "plugins"))  # as Airflow puts its plugins folder on the path
    imported = importlib.import_module(module)
    missing = [n for n in names if not hasattr(imported, n) and importlib.util.find_spec(f"{module}.{n}") is None]
    assert not missing, f"{where}:{line}: {module} has no {missing}"
