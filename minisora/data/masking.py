"""BERT's masking rule (Devlin et al. 2019), the self-supervised task a masked language model learns.

    ids     d e f   f ( x ) :   r e t u r n   x          a window of text
    chosen  each position with probability 15% (never a special token: <pad>, <unk>, <mask>, <cls>)
            of those, 80% -> <mask>, 10% -> a random ordinary token, 10% kept as they are
    labels  the original id at the chosen positions, IGNORE_INDEX (-100) everywhere else

The model sees `inputs` and is scored, with cross_entropy(..., ignore_index=-100), only on the
chosen positions: it must recover a token from the text on both sides of it. The random and the
kept 10% stop it from trusting that an unmasked token is always right, since at fine-tuning time
no token is ever masked.
"""
import numpy as np

from .. import errors
from ..tensor import Tensor
from .text import TextBatches

IGNORE_INDEX = -100   # cross_entropy's default ignore_index: positions that are not scored
MASK_PROBABILITY, MASKED_SHARE, RANDOM_SHARE = 0.15, 0.8, 0.1


def mask_tokens(ids, vocab_size, mask_id, special_ids, generator, probability=MASK_PROBABILITY):
    """(inputs, labels), both int64 shaped like ids, by the rule above, drawn from `generator` (a
    NumPy Generator). A batch in which no position was chosen gets one, drawn uniformly from
    its ordinary positions, so its loss is never a mean of nothing."""
    ids = np.asarray(ids, dtype=np.int64)
    special_ids = np.asarray(special_ids, dtype=np.int64)
    if not 0 < probability <= 1:
        raise errors.ValueError(f"mask_tokens: probability must be in (0, 1], got {probability!r}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise errors.IndexError(f"mask_tokens: token id {int(ids.max() if ids.max() >= vocab_size else ids.min())} "
                                f"is out of range [0, {vocab_size})")
    ordinary_ids = np.setdiff1d(np.arange(vocab_size), special_ids)
    if mask_id not in special_ids or not len(ordinary_ids):
        raise errors.ValueError(f"mask_tokens: mask_id {mask_id} must be one of the special ids {special_ids.tolist()}, "
                                f"and a vocabulary of {vocab_size} must hold ordinary tokens too")
    ordinary = ~np.isin(ids, special_ids)
    chosen = (generator.random(ids.shape) < probability) & ordinary
    if not chosen.any() and ordinary.any():
        places = np.flatnonzero(ordinary)
        chosen.flat[places[generator.integers(len(places))]] = True
    action = generator.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (action < MASKED_SHARE)] = mask_id
    replaced = chosen & (action >= MASKED_SHARE) & (action < MASKED_SHARE + RANDOM_SHARE)
    inputs[replaced] = generator.choice(ordinary_ids, size=int(replaced.sum()))
    return inputs, np.where(chosen, ids, IGNORE_INDEX)


class MaskedBatches(TextBatches):
    """Random windows of `context` tokens of a text, masked by mask_tokens: (inputs, labels) tensors.
    The windows and the masks are drawn from the batches' own seeded generator (resumable)."""

    next_tokens = 0   # the labels are the window's own tokens

    def __init__(self, ids, context, batch_size, tokenizer, seed=0, probability=MASK_PROBABILITY):
        if tokenizer.mask_id is None:
            raise errors.ValueError("MaskedBatches: the tokenizer has no <mask> token (fit it with "
                                    "specials=MLM_SPECIALS)")
        super().__init__(ids, context, batch_size, seed)
        self.tokenizer, self.probability = tokenizer, float(probability)

    def sample(self):
        starts = self.generator.integers(0, len(self.ids) - self.context + 1, self.batch_size)
        windows = self.ids[starts[:, None] + np.arange(self.context)]
        inputs, labels = mask_tokens(windows, self.tokenizer.vocab_size, self.tokenizer.mask_id,
                                     self.tokenizer.special_ids, self.generator, self.probability)
        return Tensor(inputs), Tensor(labels)
