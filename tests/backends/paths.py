"""Where the tooling finds the repository, the venv and the node tools."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tooling.errors import INSTALL_HINT

from tests.backends.errors import BackendMissing

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / ".tooling" / "node"


def venv_bin(name: str) -> Path:
    """Path of a console script of the venv that runs the tests (fallback: PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise BackendMissing(f"`{name}` is neither next to {sys.executable} nor on PATH")
    return Path(found)


def node_bin(name: str) -> Path:
    """Path of an npm-installed command under .tooling/node (fallback: PATH)."""
    candidate = NODE_DIR / "node_modules" / ".bin" / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise BackendMissing(f"`{name}` is not in {candidate.parent} nor on PATH; {INSTALL_HINT}")
    return Path(found)
