"""A lean install: no package that drags in pandas, scipy or scikit-learn, and the embedded MNIST
files travel inside the wheel. (matplotlib is declared on purpose: the file figures, issue 16.)"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from digitduel.data.embedded import EMBEDDED_DIR, EMBEDDED_MD5

REPO = Path(__file__).resolve().parents[1]
# mlxtend pulled the other four (~390 MB); none of them is needed by digitduel.
HEAVY = {"mlxtend", "pandas", "scipy", "scikit-learn", "sklearn"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    """`scikit-learn>=1.0; python_version>'3'` -> `scikit-learn` (PEP 503 normalised)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def test_no_heavy_runtime_dependency():
    project = _pyproject()["project"]
    names = {_name(r) for r in project["dependencies"]}
    assert "torch" in names and "numpy" in names  # the parser does see the real list
    assert not names & HEAVY, f"heavy dependencies are back: {sorted(names & HEAVY)}"


def test_package_data_ships_every_embedded_file():
    tool = _pyproject()["tool"]["setuptools"]
    assert "digitduel.data" in tool["packages"]
    patterns = tool["package-data"]["digitduel.data"]
    package_root = EMBEDDED_DIR.parent
    for name in [*EMBEDDED_MD5, "README.md"]:
        relative = (EMBEDDED_DIR / name).relative_to(package_root).as_posix()
        assert (EMBEDDED_DIR / name).is_file()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), f"{relative} not shipped"


def test_licence_and_checksums_are_recorded_beside_the_files():
    note = (EMBEDDED_DIR / "README.md").read_text()
    assert "CC BY-SA 3.0" in note
    for author in ("Yann LeCun", "Corinna Cortes", "Christopher\nJ.C. Burges"):
        assert author in note
    for name, md5 in EMBEDDED_MD5.items():
        assert f"`{name}`" in note and md5 in note


def test_digitduel_never_imports_the_heavy_packages():
    # Import every module and run the statistics that used to need scipy, in a clean process.
    code = (
        # cli.main first: it registers the command modules, which import it back.
        "import pkgutil, importlib, sys, digitduel, digitduel.cli.main\n"
        "for m in pkgutil.walk_packages(digitduel.__path__, 'digitduel.'):\n"
        "    if not m.name.endswith('__main__'):  # that one runs the CLI\n"
        "        importlib.import_module(m.name)\n"
        "from digitduel.report.stats import Summary, welch, paired\n"
        "welch(Summary(90, 1, 10), Summary(91, 1, 10)); paired([90, 91, 92], [91, 91, 94])\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'mlxtend', 'pandas', 'scipy', "
        "'sklearn'}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
