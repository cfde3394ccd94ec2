"""Distilling a sequence model: grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary.

Read top-down: data (the task, the split) -> model (a small encoder-decoder transformer with a
key/value cache) -> decode (greedy, beam, sampling) -> losses (per-token KD, top-k, GKD's JSD) ->
objectives (labels, word-level KD, sequence-level KD, on-policy) -> train (a generator of events)
-> metrics (WER, PER, paired intervals) -> compare (the four methods and top-k over seeds, the
JSON of `python -m lab seq compare`) -> teacher (the shipped checkpoint) -> cli.

Reuses the image lab's KD loss (lab.losses.distillation_loss, per position), its paired intervals
(lab.stats) and its conventions: a training loop is a generator of events, an experiment a
generator of lab.experiments.common.Progress whose last event carries a JSON-able result.
"""
