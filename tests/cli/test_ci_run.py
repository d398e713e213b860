"""`.ci/run` (issue 11 item 13): it runs the README's test command exactly and fails unless at least one
PostgreSQL test PASSED — a skipped PostgreSQL variant must fail CI even when no skip message is printed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST = '''
def test_on_both(database_url):
    assert database_url
'''


def _project(tmp_path: Path) -> Path:
    """A miniature checkout: .ci/run, a README with a test command, the real conftest and one test that
    runs on SQLite and on PostgreSQL. No `-ra` anywhere, so pytest prints no skip reasons."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "t").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "t" / "conftest.py")
    (tmp_path / "t" / "test_both.py").write_text(TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    postgres: needs PostgreSQL\n")
    (tmp_path / "README.md").write_text(
        "# x\n\n<!-- test-command -->\nRun:\n\n```sh\n"
        f"{sys.executable} -m pytest -q -p no:cacheprovider t\n```\n"
    )
    return tmp_path


@pytest.mark.skipif(shutil.which("pg_isready") is None, reason="needs the PostgreSQL client tools (pg_isready)")
def test_ci_run_fails_when_no_postgresql_test_passed(tmp_path):
    project = _project(tmp_path)
    dead = "postgresql+psycopg://postgres@127.0.0.1:9/test"  # nothing listens: the PG variant is skipped
    p = subprocess.run(["bash", ".ci/run"], cwd=project, capture_output=True, text=True, timeout=600,
                       env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "BASTION_TEST_POSTGRES_URL": dead})
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 passed, 1 skipped" in p.stdout and "PostgreSQL unavailable" not in p.stdout
    assert "FAIL: no PostgreSQL test passed" in p.stderr

    if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode != 0:
        pytest.skip("PostgreSQL is not running here: the passing half needs it")
    p = subprocess.run(["bash", ".ci/run"], cwd=project, capture_output=True, text=True, timeout=600,
                       env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PostgreSQL tests passed: 1" in p.stdout
