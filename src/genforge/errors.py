"""The base of every expected, user-fixable failure.

The CLI prints such an error as one line naming the culprit and exits 1; anything
else is a bug and keeps its stack trace.
"""


class GenforgeError(Exception):
    """An expected failure the user can fix (bad data, a missing input, a diverged run)."""
