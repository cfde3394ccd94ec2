"""A small encoder-decoder transformer (Vaswani et al. 2017), pre-LayerNorm, written out so that
decoding can keep a key/value cache: at each step the decoder runs on the one new position and
attends over the cached keys and values of the earlier ones, instead of re-running the prefix.

    model = Seq2Seq(TEACHER)
    logits = model(letters, decoder_inputs)           # (B, T, 40), teacher forcing
    memory, mask = model.encode(letters)              # decoding: encode once ...
    cache = model.new_cache(memory, mask, max_len)
    logits = model.step(tokens, cache)                # ... then one position at a time
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import BOS, LETTERS, MAX_LETTERS, MAX_PHONEMES, NUM_CLASSES


@dataclass(frozen=True)
class SeqModelConfig:
    d_model: int = 256
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    ffn: int = 1024
    dropout: float = 0.1

    def as_dict(self) -> dict:
        return asdict(self)


# 1.41 M and 0.14 M parameters: the student is 10x smaller (a quarter of the width, 2 + 2 layers instead of 3 + 3).
TEACHER = SeqModelConfig(d_model=128, heads=4, encoder_layers=3, decoder_layers=3, ffn=512, dropout=0.1)
STUDENT = SeqModelConfig(d_model=48, heads=4, encoder_layers=2, decoder_layers=2, ffn=192, dropout=0.0)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q, self.kv, self.out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def split(self, x):  # (B, L, D) -> (B, H, L, D / H)
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, x):
        k, v = self.kv(x).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def forward(self, x, k, v, mask=None, causal=False):
        """x (B, Lq, D) attends over keys/values (B, H, Lk, D / H); mask (B, 1, 1, Lk) bool, True = keep."""
        q = self.split(self.q(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(x.shape))


class FeedForward(nn.Sequential):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))


class EncoderLayer(nn.Module):
    def __init__(self, c: SeqModelConfig):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.attn, self.ffn = Attention(c.d_model, c.heads, c.dropout), FeedForward(c.d_model, c.ffn, c.dropout)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, mask):
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, *self.attn.keys_values(h), mask=mask))
        return x + self.drop(self.ffn(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, c: SeqModelConfig):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.self_attn, self.cross_attn = Attention(c.d_model, c.heads, c.dropout), Attention(c.d_model, c.heads, c.dropout)
        self.ffn, self.drop = FeedForward(c.d_model, c.ffn, c.dropout), nn.Dropout(c.dropout)

    def forward(self, x, memory_kv, mask, self_kv=None):
        """Teacher forcing when self_kv is None (causal over x); otherwise x is the one newest position
        and self_kv = (keys, values, length) are the cached earlier positions, extended in place."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if self_kv is None:
            x = x + self.drop(self.self_attn(h, k, v, causal=True))
        else:
            keys, values, t = self_kv
            keys[:, :, t:t + 1], values[:, :, t:t + 1] = k, v
            x = x + self.self_attn(h, keys[:, :, :t + 1], values[:, :, :t + 1])
        x = x + self.drop(self.cross_attn(self.norm2(x), *memory_kv, mask=mask))
        return x + self.drop(self.ffn(self.norm3(x)))


class Seq2Seq(nn.Module):
    def __init__(self, config: SeqModelConfig = TEACHER):
        super().__init__()
        c = self.config = config
        self.letter_embedding = nn.Embedding(len(LETTERS) + 1, c.d_model, padding_idx=0)
        self.phoneme_embedding = nn.Embedding(NUM_CLASSES, c.d_model)
        self.letter_position = nn.Embedding(MAX_LETTERS, c.d_model)
        self.phoneme_position = nn.Embedding(MAX_PHONEMES + 1, c.d_model)
        self.encoder = nn.ModuleList(EncoderLayer(c) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(c) for _ in range(c.decoder_layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, NUM_CLASSES)
        self.drop = nn.Dropout(c.dropout)
        self.scale = math.sqrt(c.d_model)

    @property
    def parameters_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, letters: torch.Tensor):
        """letters (B, S) ids, 0 = padding -> memory (B, S, D) and its mask (B, 1, 1, S), True = a letter."""
        letters = letters.long()
        mask = (letters > 0)[:, None, None, :]
        x = self.letter_embedding(letters) * self.scale + self.letter_position.weight[:letters.shape[1]]
        x = self.drop(x)
        for layer in self.encoder:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def _embed(self, tokens, start: int):
        x = self.phoneme_embedding(tokens) * self.scale + self.phoneme_position.weight[start:start + tokens.shape[1]]
        return self.drop(x)

    def decode(self, tokens, memory, mask):
        """Teacher forcing: tokens (B, T) decoder inputs (BOS then the targets shifted) -> (B, T, 40) logits."""
        x = self._embed(tokens, 0)
        for layer in self.decoder:
            x = layer(x, layer.cross_attn.keys_values(memory), mask)
        return self.head(self.decoder_norm(x))

    def forward(self, letters, tokens):
        memory, mask = self.encode(letters)
        return self.decode(tokens, memory, mask)

    # ---------------------------------------------------------------- incremental decoding
    def new_cache(self, memory, mask, max_len: int = MAX_PHONEMES + 1) -> dict:
        """Per layer: the cross-attention keys/values (computed once) and empty self-attention buffers."""
        b, h = memory.shape[0], self.config.heads
        dh = self.config.d_model // h
        layers = []
        for layer in self.decoder:
            zeros = memory.new_zeros(b, h, max_len, dh)
            layers.append({"memory_kv": layer.cross_attn.keys_values(memory), "keys": zeros,
                           "values": zeros.clone()})
        return {"layers": layers, "mask": mask, "t": 0}

    def step(self, tokens: torch.Tensor, cache: dict) -> torch.Tensor:
        """tokens (B,) the newest decoder input of each row -> (B, 40) logits of the next class."""
        t = cache["t"]
        x = self._embed(tokens[:, None], t)
        for layer, c in zip(self.decoder, cache["layers"]):
            x = layer(x, c["memory_kv"], cache["mask"], (c["keys"], c["values"], t))
        cache["t"] = t + 1
        return self.head(self.decoder_norm(x))[:, 0]

    @staticmethod
    def reorder_cache(cache: dict, index: torch.Tensor) -> None:
        """Keep rows `index` of every cached tensor (beam search: the surviving hypotheses)."""
        for c in cache["layers"]:
            c["memory_kv"] = tuple(t[index] for t in c["memory_kv"])
            c["keys"], c["values"] = c["keys"][index], c["values"][index]
        cache["mask"] = cache["mask"][index]


def decoder_inputs(targets: torch.Tensor) -> torch.Tensor:
    """(B, T) target classes -> (B, T) decoder inputs: BOS, then the targets shifted right by one."""
    return torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)


def build(config: SeqModelConfig, seed: int) -> Seq2Seq:
    """A fresh model whose initial weights depend only on `seed` (same init for every method)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Seq2Seq(config)
