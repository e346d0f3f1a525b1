"""One-way dependencies: the domain never imports the transport layers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = {"fulfilment/app.py"}
FORBIDDEN = ("webhooks", "workers")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_fulfilment_never_imports_webhooks_or_workers():
    offenders = {}
    for path in (ROOT / "fulfilment").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in COMPOSITION_ROOT:
            continue
        bad = {n for n in _imports(path) if n.split(".")[0] in FORBIDDEN}
        if bad:
            offenders[rel] = bad
    assert offenders == {}


def test_services_do_not_import_the_admin_or_the_api():
    for path in (ROOT / "fulfilment" / "services").rglob("*.py"):
        bad = {
            n
            for n in _imports(path)
            if n in ("fulfilment.admin", "fulfilment.api", "fulfilment.auth", "flask_admin")
        }
        assert bad == set(), path


def test_status_is_assigned_only_in_transition():
    hits = []
    for path in list((ROOT / "fulfilment").rglob("*.py")) + list((ROOT / "webhooks").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if ".status = " in line and "payment" not in line:
                hits.append(f"{path.relative_to(ROOT)}:{lineno}")
    assert len(hits) == 1 and hits[0].startswith("fulfilment/services/orders.py:"), hits
