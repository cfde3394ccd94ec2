"""How the app writes numbers (durations, sizes) and text someone typed (names, link values)."""
from __future__ import annotations

import re

# Every ASCII punctuation mark may be backslash-escaped in Markdown (CommonMark): then it is only
# that character. `:` too, so ":red[...]" or ":material/...:" in a name stays text.
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")


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


def md_text(text) -> str:
    """Text someone typed (a student's name, a value from a link, an uploaded card's field) for
    st.markdown / st.caption / st.info...: every Markdown character escaped, so `![](http://x)`
    fetches nothing, `**` is not bold and `<script>` is shown as typed; one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
