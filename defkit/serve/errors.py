"""The one error a request handler raises: an HTTP status and a message for the client."""

from __future__ import annotations


class RequestError(Exception):
    """Answered as `{"error": {"code": status, "message": message}}` with that status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(what: str) -> RequestError:
    # The same answer whether the thing does not exist or belongs to another token.
    return RequestError(404, f"{what} not found")
