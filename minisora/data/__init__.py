"""minisora.data: datasets that work offline, and a DataLoader that batches and shuffles them."""
from .dataset import Dataset, Subset, TensorDataset, random_split
from .digits import digits
from .idx import mnist, read_idx
from .loader import DataLoader
from .text import CharTokenizer, TextBatches, pydoc_corpus, read_corpus, split_ids
from .toy import circles, moons, spiral

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "digits", "moons", "circles",
           "spiral", "mnist", "read_idx", "CharTokenizer", "TextBatches", "pydoc_corpus", "read_corpus",
           "split_ids"]
