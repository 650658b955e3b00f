"""The error a user's bad input raises: reported in one line that says what to do, never a traceback."""


class InputError(ValueError):
    """Bad input from the user: reported in one line, without a traceback, in a single run (``launch.py``),
    and as the job's ``failed`` reason in a sweep."""
