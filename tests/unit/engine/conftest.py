"""Fixtures of the engine unit tests (helpers and the exact reference live in ``support``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m engine <args>`` in a fresh interpreter with ``stdin`` text; returns the completed process."""

    def run(
        *args: str, stdin: str = "", timeout: float = 120, python_args: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [sys.executable, *python_args, "-m", "engine", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=timeout,
        )

    return run
