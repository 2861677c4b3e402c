"""The deployment that ships with the package: the repository's deploy/jupyterhub_config.py,
carried in the wheel as `stellars/deploy/jupyterhub_config.py` (hatch force-include), and the
`stellars-hub` command that starts JupyterHub with it.

    stellars-hub [JUPYTERHUB OPTIONS]   # python -m jupyterhub -f <that file> [JUPYTERHUB OPTIONS]
    python -m stellars.deploy           # prints the file's path (for `jupyterhub -f`)

A source checkout (an editable install) has no copy next to this module and uses the
repository's deploy/jupyterhub_config.py instead, so there is one file to edit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

CONFIG_NAME = "jupyterhub_config.py"
PACKAGED_CONFIG = Path(__file__).resolve().parent / CONFIG_NAME
CHECKOUT_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / CONFIG_NAME


def config_path() -> Path:
    """The deploy config: the wheel's copy, else the source checkout's file."""
    for candidate in (PACKAGED_CONFIG, CHECKOUT_CONFIG):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"stellars-hub: no {CONFIG_NAME} in {PACKAGED_CONFIG.parent} (wheel) nor in "
        f"{CHECKOUT_CONFIG.parent} (source checkout)"
    )


def hub_command(arguments: Sequence[str], python: str | None = None) -> list[str]:
    """The JupyterHub command line with the shipped config and the caller's options after it
    (JupyterHub lets a later option win, so `-f other.py` or `--port` still override)."""
    return [python or sys.executable, "-m", "jupyterhub", "-f", str(config_path()), *arguments]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """`stellars-hub`: replace this process with JupyterHub (signals reach the hub directly)."""
    command = hub_command(sys.argv[1:] if argv is None else argv)
    os.execv(command[0], command)
