"""Waiting for servers that tests start (the browser and JupyterHub tests share it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.25) -> Any:
    """Call ``condition`` until it returns something truthy, and return that.

    Raises
    ------
    TimeoutError
        After ``timeout`` seconds, naming ``what`` was awaited and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}; last seen: {value!r}")
        time.sleep(poll)
