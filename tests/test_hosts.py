"""`tests.hosts.require`: a missing host library skips on a developer's machine and fails in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEEDS = 'from tests.hosts import require\nlib = require("muvi_no_such_host_lib", extra="blender")\n\n' \
        "def test_it():\n    pass\n"  # fmt: skip


# pytest's exit codes: 5 "no tests ran" (the module skipped itself), 2 "interrupted" (a collection error).
CASES = [({}, "1 skipped", 5), ({"CI": "true"}, "1 error", 2), ({"MUVI_REQUIRE_HOSTS": "1"}, "1 error", 2)]


@pytest.mark.parametrize(("setting", "outcome", "code"), CASES)
def test_a_missing_host_library_fails_only_in_ci(tmp_path, setting, outcome, code):
    (tmp_path / "test_needs.py").write_text(NEEDS)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "MUVI_REQUIRE_HOSTS")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "test_needs.py"]
    env = {**clean, **setting, "PYTHONPATH": str(REPO)}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in run.stdout, run.stdout
    assert "muvi_no_such_host_lib is not installed" in run.stdout
    assert "'blender' extra" in run.stdout and run.returncode == code
