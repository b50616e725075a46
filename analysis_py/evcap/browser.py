"""Headless Chromium: check that a report renders, and take its screenshot.

The report's own inline script records what happened in the page (charts
rendered, errors, non-blank canvas pixels per chart) in
``<pre id="evcap-status">``; :func:`render_status` reads it back. The browser
runs with the network off: every host name resolves to nothing and a dead
proxy catches the rest.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from evcap.errors import ConfigError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _require_chromium() -> str:
    found = find_chromium()
    if found is None:
        raise ConfigError(
            "headless chromium is not installed: `apt-get install chromium` "
            "(make test installs it)"
        )
    return found


def browser_flags(profile: str) -> list[str]:
    """Command-line flags for an offline, headless, throw-away browser."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        # network off: every host name resolves to nothing
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--hide-scrollbars",
    ]


def _run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            arguments, capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(
            f"chromium did not finish within {exc.timeout:.0f} s"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot run chromium: {exc}") from exc
    if done.returncode != 0:
        raise ConfigError(
            f"chromium failed (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    return done


def render_status(page: Path) -> dict[str, Any]:
    """Load ``page`` in headless Chromium; return the report's status record.

    Raises
    ------
    ConfigError
        When Chromium is missing or fails, or the page has no status record.
    """
    exe = _require_chromium()
    with tempfile.TemporaryDirectory(prefix="evcap-chromium-") as profile:
        done = _run(
            [exe, *browser_flags(profile), "--dump-dom", page.resolve().as_uri()]
        )
    match = re.search(r'<pre id="evcap-status">(.*?)</pre>', done.stdout, re.S)
    if not match or not match.group(1).strip():
        raise ConfigError(f"{page} has no finished evcap status record (not a report?)")
    status: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return status


def screenshot(page: Path, out: Path, *, width: int = 1400, height: int = 4000) -> Path:
    """Save a PNG screenshot of ``page`` (``width`` x ``height`` pixels).

    Raises
    ------
    ConfigError
        When Chromium is missing or fails.
    """
    exe = _require_chromium()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evcap-chromium-") as profile:
        _run(
            [
                exe,
                *browser_flags(profile),
                f"--window-size={width},{height}",
                f"--screenshot={out.resolve()}",
                page.resolve().as_uri(),
            ]
        )
    return out
