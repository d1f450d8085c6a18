"""minisora.data: datasets that work offline, and a DataLoader that batches and shuffles them."""
from .classification import (MLM_SPECIALS, PYDOC_GROUPS, TextTokenizer, pydoc_pretraining_text, read_labelled_texts,
                             text_classification)
from . import transforms
from .dataset import Dataset, Subset, TensorDataset, random_split
from .digits import digits
from .graphs import GraphBatch, NodeData, batch_graphs, cora, cycles, karate_club, sbm, small_graph
from .idx import mnist, read_idx
from .loader import DataLoader
from .masking import IGNORE_INDEX, MaskedBatches, mask_tokens
from .mixtures import grid25, mixture, ring8
from .text import CharTokenizer, TextBatches, pydoc_corpus, read_corpus, split_ids
from .sequences import adding_problem, temporal_order
from .toy import circles, moons, spiral

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "digits", "moons", "circles",
           "spiral", "mnist", "read_idx", "CharTokenizer", "TextBatches", "pydoc_corpus", "read_corpus",
           "split_ids", "adding_problem", "temporal_order", "TextTokenizer", "text_classification",
           "read_labelled_texts", "PYDOC_GROUPS", "transforms", "NodeData", "GraphBatch", "karate_club", "sbm", "cora",
           "cycles", "batch_graphs", "small_graph", "ring8", "grid25", "mixture",
           "MLM_SPECIALS", "pydoc_pretraining_text", "IGNORE_INDEX", "MaskedBatches", "mask_tokens"]
