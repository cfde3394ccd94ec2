"""Which process wrote a run: its pid and a marker of that process's incarnation, so that a run
left "running" by a process that has died (a crash, a restart) can be told from a live one."""
from __future__ import annotations

import os
from pathlib import Path


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_marker(pid: int) -> str | None:
    """Something that identifies *this incarnation* of process `pid`: the boot id and the
    process start time (Linux /proc). A pid reused after a crash or reboot gets another
    marker. None where it cannot be told (the pid alone is then trusted)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 is the start time in clock ticks since boot; the command name (field 2) may
    # hold spaces, so count fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2:].split()
    return f"{_boot_id()}:{fields[19]}"


def process_alive(pid: int | None, marker: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if marker is None:
        return True
    current = process_marker(pid)
    return current is None or current == marker
