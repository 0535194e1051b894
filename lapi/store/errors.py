"""Store errors the API turns into 404 and 409."""


class NotFound(LookupError):
    """A referenced row does not exist (unknown camera, watchlist entry...)."""


class Conflict(ValueError):
    """The write collides with an existing row."""
