import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ML = Path(__file__).resolve().parents[3] / "training" / "ml"


def test_no_module_under_training_ml_imports_django():
    offenders = []
    for path in sorted(ML.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {name}" for name in names if name.split(".")[0] in {"django", "rest_framework"}
            ]
    assert offenders == []


def test_importing_every_ml_module_loads_no_django():
    modules = [f"training.ml.{p.stem}" for p in sorted(ML.glob("*.py")) if p.stem != "__init__"]
    program = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ML.parents[1])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=env,
        cwd=ML.parents[1],
        timeout=120,
        check=True,
    )
    assert len(modules) >= 9
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []
