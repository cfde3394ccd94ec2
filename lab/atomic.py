"""Write a file so that readers see the old content or the new, never a part, and two writers of
the same file never trip over each other.

A fixed temporary name ("model.json.tmp") is shared by every writer: the second one truncates the
first one's file, the first one's rename then moves the second one's half-written bytes into
place, and the second one's rename fails (FileNotFoundError) — two students' jobs saving the same
cached teacher ended one of them in "error". Each write here has its own temporary file in the
target's folder (a rename is atomic only within one filesystem), then os.replace.
"""
from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path


def write_atomically(path: Path | str, data: bytes | str) -> Path:
    """Replace `path` with `data` (str is written as UTF-8) in one step; returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:  # "x": never someone else's file; permissions follow the umask
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
