"""Files that appear whole or not at all: write to a temporary name beside them, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# mkstemp makes its file 0600; the finished file gets the mode open() would give it, so that a
# leaderboard site or a sweep's results stay readable by a web server or a group (read at import:
# os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


@contextmanager
def atomic_path(path: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends without error it becomes
    ``path`` (a reader never sees half a file), else it is deleted.

    With ``replace=False`` an existing ``path`` is never replaced, even one another process made
    meanwhile: :class:`FileExistsError` instead.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # unlike a rename, fails when the name exists
    finally:
        Path(tmp).unlink(missing_ok=True)
