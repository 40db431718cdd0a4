"""The one exception type that the CLI prints as a single line for people."""


class TelesecError(Exception):
    """An error a person can fix: the message says what is wrong and what to do."""
