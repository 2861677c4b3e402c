"""docs/mutation.md records the commit its mutation figures were measured on ("Run on commit:"):
the record is stale, and this test fails, once a later commit changes src/stellars/domain.

Needs the git history: it skips where the project is not a git checkout of its own (the Docker
image's builder stage copies the sources without .git; mutmut runs the unit tests in a copy
under mutants/, where git would answer for the checkout around it, and pyproject's
[tool.mutmut] leaves this file out there too).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MUTATION_DOC = REPO_ROOT / "docs" / "mutation.md"
DOMAIN = "src/stellars/domain"
RECORD = re.compile(r"^Run on commit: (\S+)$", re.MULTILINE)


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=60
    )


def require_checkout() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed here (the Docker image's builder stage)")
    top = git("rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != REPO_ROOT:
        pytest.skip(f"{REPO_ROOT} is not a git checkout of its own (Docker build, mutmut copy)")


def recorded_commit() -> str:
    results = MUTATION_DOC.read_text(encoding="utf-8").split("## Results", 1)
    assert len(results) == 2, "docs/mutation.md has no Results section"
    section = results[1].split("\n## ", 1)[0]
    found = RECORD.findall(section)
    assert len(found) == 1, f"the Results section needs one 'Run on commit: <hash>' line: {found}"
    return found[0]


def test_the_record_names_one_commit_by_its_hash():
    assert re.fullmatch(r"[0-9a-f]{7,40}", recorded_commit())


def test_the_mutation_figures_were_measured_on_the_current_domain():
    require_checkout()
    recorded = recorded_commit()
    resolved = git("rev-parse", "--verify", "--quiet", f"{recorded}^{{commit}}")
    assert resolved.returncode == 0, (
        f"docs/mutation.md was run on commit {recorded}, which this checkout does not have"
    )
    last_change = git("log", "-1", "--format=%H", "--", DOMAIN)
    assert last_change.returncode == 0, last_change.stderr
    changed_at = last_change.stdout.strip()
    assert changed_at, f"no commit touches {DOMAIN}"
    # Fresh when the last change of the domain is the recorded commit or one before it.
    fresh = git("merge-base", "--is-ancestor", changed_at, resolved.stdout.strip())
    assert fresh.returncode == 0, (
        f"docs/mutation.md was run on commit {recorded}, but commit {changed_at[:12]} changed "
        f"{DOMAIN} after it: rerun `make mutation` and update the table and the commit line"
    )
