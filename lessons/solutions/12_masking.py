"""Solution (lesson 12): BERT's masking rule, the task a masked language model learns.

    chosen   each ordinary token with probability 0.15 (never a special one: <pad>, <unk>,
             <mask>, <cls>: their ids are special_ids)
    inputs   of the chosen: 80% -> mask_id, 10% -> a random ordinary token, 10% kept as they are;
             every other position unchanged
    labels   the original id at the chosen positions, -100 elsewhere (cross_entropy's
             ignore_index: only the chosen positions are scored)

ids (B, T) int64; draw every random number from `generator` (a NumPy Generator).
Return (inputs, labels), both int64 arrays shaped like ids.

One uniform number per position decides its fate: below 0.8 masked, 0.8 to 0.9 a random token,
above 0.9 kept. Graded by: minisora check lessons/solutions/12_masking.py
"""
import numpy as np


def mask_tokens(ids, vocab_size, mask_id, special_ids, generator):
    ordinary = ~np.isin(ids, special_ids)
    chosen = (generator.random(ids.shape) < 0.15) & ordinary
    action = generator.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (action < 0.8)] = mask_id
    replaced = chosen & (action >= 0.8) & (action < 0.9)
    ordinary_ids = np.setdiff1d(np.arange(vocab_size), special_ids)
    inputs[replaced] = generator.choice(ordinary_ids, size=int(replaced.sum()))
    labels = np.where(chosen, ids, -100)
    return inputs, labels
