"""What a page draws from results that do not change — a teacher's charts at a T, a finished job's
figures, a pair's paired interval — built once per server and shared by every session, instead of
rebuilt on every rerun and every poll of a panel.

    fig = memo.get(("dk-heatmap", fingerprint(logits), T), lambda: figures.similarity_heatmap(...))

A key names the result it is built from (the tensor's fingerprint, a finished job's key, a T),
never only what one session's widgets say. Values are shared read-only (st.plotly_chart
serialises a figure without changing it). A bounded LRU: the least recently used leave first.
"""
from __future__ import annotations

import collections
import hashlib
import io
import threading
from typing import Callable, Hashable

import torch
from PIL import Image

MAX_ENTRIES = 1024  # a plotly figure here is ~10-100 kB: tens of MB at most

_entries: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()


def get(key: Hashable, build: Callable):
    """The value built for `key`, building it (outside the lock: two sessions may both build it once)."""
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
    value = build()
    with _lock:
        _entries[key] = value
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def fingerprint(tensor: torch.Tensor) -> str:
    """A short hash of a tensor's values (microseconds for a test set's logits): two teachers with
    the same name but other weights never share a chart."""
    data = tensor.detach().cpu().contiguous()
    raw = data.reshape(-1).view(torch.uint8).numpy()  # its bytes, whatever the dtype
    return f"{hashlib.blake2b(raw, digest_size=12).hexdigest()}{tuple(data.shape)}{data.dtype}"


def png(picture) -> bytes:
    """A uint8 (H, W, 3) picture as PNG bytes: encoded once, not by st.image on every rerun."""
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


def clear() -> None:
    with _lock:
        _entries.clear()
