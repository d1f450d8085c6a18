"""Exercise (lesson 12): BERT's masking rule, the task a masked language model learns.

    chosen   each ordinary token with probability 0.15 (never a special one: <pad>, <unk>,
             <mask>, <cls>: their ids are special_ids)
    inputs   of the chosen: 80% -> mask_id, 10% -> a random ordinary token, 10% kept as they are;
             every other position unchanged
    labels   the original id at the chosen positions, -100 elsewhere (cross_entropy's
             ignore_index: only the chosen positions are scored)

ids (B, T) int64; draw every random number from `generator` (a NumPy Generator).
Return (inputs, labels), both int64 arrays shaped like ids.

Hint: one uniform number per position can decide its fate: below 0.8 masked, 0.8 to 0.9 a
random token (np.setdiff1d gives the ordinary ids to draw from), above 0.9 kept.
Grade it: minisora check lessons/exercises/12_masking.py
"""
import numpy as np


def mask_tokens(ids, vocab_size, mask_id, special_ids, generator):
    ordinary = ~np.isin(ids, special_ids)
    raise NotImplementedError("choose 15% of the ordinary positions, then mask, replace or keep them")
