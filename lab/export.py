"""Take a trained model out of the lab: safetensors + JSON card, or ONNX.

    onnx_bytes(model, card)          -> bytes of an ONNX file (input: pixels in [0, 1])
    safetensors_bytes(model, card)   -> bytes of a safetensors file (the card in its metadata)
    export(folder, "onnx", out)      -> what `python -m lab export` does

The ONNX graph includes the normalization, so it takes what any image library gives:
float32 pixels in [0, 1], shape (B, C, H, W), any batch size, and returns (B, K) logits.
The card (classes, mean/std, metrics) rides along in the file's metadata.

ONNX uses PyTorch's TorchScript-based exporter (`dynamo=False`): it works offline with
torch alone, while the newer torch.export-based one also needs the `onnxscript` package.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch

from . import checkpoints
from .atomic import write_atomically
from .errors import CheckpointError, ConfigError

FORMATS = ("onnx", "safetensors")
ONNX_OPSET = 17


class WithNormalization(torch.nn.Module):
    """pixels in [0, 1] -> (x - mean) / std -> model: what the lab does before every forward."""

    def __init__(self, model: torch.nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) float in [0, 1]
        return self.model((pixels - self.mean) / self.std)


def onnx_bytes(model: torch.nn.Module, card: dict) -> bytes:
    """The model (with its normalization) as an ONNX file, batch size free."""
    wrapped = WithNormalization(model.cpu().float().eval(), card["mean"], card["std"]).eval()
    example = torch.zeros(1, *card["input_shape"])
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter announces its own deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapped, (example,), buffer, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["pixels"], output_names=["logits"],
                          dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
    import onnx

    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = (f"Distillation Lab model {card['arch']!r} trained on {card.get('dataset')}. Input 'pixels': "
                        f"float32 (B, {', '.join(map(str, card['input_shape']))}) in [0, 1]; output 'logits' (B, "
                        f"{len(card['classes'])}) in the order of metadata 'classes'.")
    for key, value in (("lab_card", json.dumps(card)), ("classes", json.dumps(card["classes"])),
                       ("arch", card["arch"])):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def safetensors_bytes(model: torch.nn.Module, card: dict) -> bytes:
    """The weights as safetensors; the card is stored in the file's metadata as well."""
    from safetensors.torch import save
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return save(tensors, metadata={"arch": card["arch"], "lab_card": json.dumps(checkpoints._finite(card))})


def export(folder: Path, fmt: str, out: Path) -> dict:
    """Write checkpoint `folder` as `fmt` to `out` (safetensors: plus the card as `out` with .json)."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}. Choose one of: {', '.join(FORMATS)}.")
    model, card = checkpoints.load(folder)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = onnx_bytes(model, card) if fmt == "onnx" else safetensors_bytes(model, card)
    written = {"format": fmt, "path": str(out), "bytes": len(data)}
    _write_atomically(out, data)
    if fmt == "safetensors":
        card_path = out.with_suffix(".json")
        _write_atomically(card_path, json.dumps(checkpoints._finite(card), indent=2).encode())
        written["card"] = str(card_path)
    return written


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as e:
        raise CheckpointError(f"Cannot write {path} ({e.strerror}). Choose another --out.") from None


def run_onnx(data: bytes, pixels) -> "numpy.ndarray":  # noqa: F821
    """Logits from an exported ONNX file with onnxruntime (what a user of the file would do)."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"pixels": np.asarray(pixels, dtype=np.float32)})[0]
