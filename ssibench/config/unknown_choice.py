"""The hint added to Hydra's report of a config choice it cannot find: how a choice of one's own is found."""

from __future__ import annotations

import re


class UnknownChoiceHint:
    """``sys.stderr``, adding one line on ``hydra.searchpath`` after Hydra's report of an unknown choice
    (``Could not find 'loss/foo'`` and the built-in options): Hydra writes that report itself, in one
    write, and exits, with no hook to extend it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        unknown = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
        if unknown:
            group, name = unknown.groups()
            self._stream.write(
                f"ssibench: a {group} of your own? put it in <folder>/{group}/{name}.yaml and add that folder to "
                f"Hydra's search path: hydra.searchpath=[file:///absolute/path/to/<folder>] (docs/own_parts.rst)\n"
            )
        return written

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
