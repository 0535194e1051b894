"""The one error type every beacon decoder raises on bad input.

Servers catch exactly this (never a bare ``Exception``) to close the one bad connection, so a
decoder bug that raises anything else shows up as a failing fuzz test instead of being swallowed.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """Bytes or parameters a decoder cannot turn into positions; ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason, self.message = reason, message
        super().__init__(f"{reason}: {message}")
