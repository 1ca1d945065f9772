"""Architecture rules: layered imports (import-linter) and no unsafe deserialisation anywhere."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "p2pfed"

# calls that can execute code or build arbitrary objects from bytes
UNSAFE_CALLS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"),
    ("cPickle", "loads"), ("dill", "loads"), ("dill", "load"), ("marshal", "loads"),
    ("torch", "load"), ("numpy", "load_pickle"), ("shelve", "open"), ("yaml", "load"),
}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "joblib", "cloudpickle"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def scan(source: str, filename: str) -> list[str]:
    """Unsafe imports/calls in one module (also `np.load(..., allow_pickle=True)`)."""
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno} import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{filename}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            parts = name.split(".")
            if len(parts) >= 2 and (parts[-2], parts[-1]) in UNSAFE_CALLS | {("th", "load")}:
                found.append(f"{filename}:{node.lineno} {name}()")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{filename}:{node.lineno} {name}(allow_pickle=...)")
    return found


def test_scanner_catches_what_it_should():
    bad = "import pickle\nfrom dill import loads\nimport torch\ntorch.load(f)\nnp.load(p, allow_pickle=True)\nx.pickle.loads(b)\n"
    assert len(scan(bad, "x.py")) == 5
    assert scan("np.load(p, allow_pickle=False)\nimport json\njson.loads(s)\n", "ok.py") == []


def test_no_unsafe_deserialisation_in_the_package():
    hits = []
    for path in sorted(PKG.rglob("*.py")):
        hits += scan(path.read_text(), str(path.relative_to(PKG.parent)))
    assert not hits, "unsafe deserialisation in the package:\n" + "\n".join(hits)


def test_import_layers():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.fail("lint-imports (import-linter) is not installed; run `make test`")
    r = subprocess.run([exe, "--no-cache"], cwd=PKG.parent, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
