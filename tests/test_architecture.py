"""The packages' imports point one way, as the README's Architecture section draws them: a
change that makes a lower package import a higher one (or a cycle) fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each package and the packages it may import (lc, on top, may import them all).
ALLOWED: dict[str, set[str]] = {
    "ocpp_knowledge": set(),
    "supervision": set(),
    "modbus": set(),
    "config_file": {"ocpp_knowledge"},
    "router": {"config_file", "ocpp_knowledge", "supervision"},
    "certificates": {"router", "config_file", "ocpp_knowledge", "supervision"},
    "station": {"router", "config_file", "ocpp_knowledge", "supervision"},
    "firmware": {"config_file", "ocpp_knowledge", "supervision"},
    "balancer": {"router", "modbus", "config_file", "ocpp_knowledge", "supervision"},
    "garage": {"modbus", "ocpp_knowledge"},
}
PACKAGES = {*ALLOWED, "lc"}


def _imported_packages(package: str) -> dict[str, set[str]]:
    """The other packages each module of `package` imports, by module path."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        tops = {name.split(".")[0] for name in names} & PACKAGES - {package}
        if tops:
            found[str(path.relative_to(ROOT))] = tops
    return found


def test_each_package_imports_only_the_packages_below_it() -> None:
    wrong = {
        module: sorted(tops - ALLOWED[package])
        for package in ALLOWED
        for module, tops in _imported_packages(package).items()
        if tops - ALLOWED[package]
    }
    assert wrong == {}


def test_the_product_never_imports_the_simulated_garage_but_for_the_demo() -> None:
    users = {
        module
        for package in PACKAGES - {"garage"}
        for module, tops in _imported_packages(package).items()
        if "garage" in tops
    }
    assert users <= {"lc/demo.py"}, sorted(users)
