"""Run the dbt CLI in a project directory a test made (a host project, a copy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from evcap.dbt_runner import dbt_executable


def run_dbt_in(root: Path, args: list[str], env: dict[str, str]) -> str:
    """``dbt <args>`` with ``root`` as working directory; its stdout.

    Fails the test, with the end of dbt's output, when dbt exits non-zero.
    """
    done = subprocess.run(
        [dbt_executable(), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout
