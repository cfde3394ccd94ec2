"""How the app writes numbers: durations, sizes."""
from __future__ import annotations


def fmt_seconds(s: float | None) -> str:
    """ "1:05" (minutes:seconds); "—" when unknown."""
    if s is None:
        return "—"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"
