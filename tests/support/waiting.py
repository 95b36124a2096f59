"""Polling for something another process does."""
import time


def until(predicate, timeout_s: float = 60.0, what: str = "condition", poll_s: float = 0.1):
    """The first truthy value of predicate(), polled until timeout_s; an AssertionError naming `what` after that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")
