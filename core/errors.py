"""The one exception family the pages and the CLI turn into a sentence for the user."""
from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can act on: `message` is one sentence, `hint` an optional next step."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class InvalidInput(WorkbenchError):
    """Bad file, bad config, bad value typed by the user."""


class NotFound(WorkbenchError):
    """The thing named does not exist."""


class PermissionDenied(WorkbenchError):
    """The acting user's role does not allow this."""


class Conflict(WorkbenchError):
    """The request clashes with the current state (a name already taken, a job already finished)."""


class Unavailable(WorkbenchError):
    """A GPU, a server or a model that is not there."""


class DataError(InvalidInput):
    """A file or dataset that cannot be used as it is: the message names the file and what is wrong."""
