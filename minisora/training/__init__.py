"""Training runs the CLI starts: a classifier (the MLP), a sequence classifier (LSTM, GRU, RNN,
transformer encoder), a graph network's node classifier (GCN, GAT, GraphSAGE), a GAN, a
character-level language model (the GPT), a masked language model's pretraining and the
fine-tuning of its encoder."""
from .classifier import ClassifierRun
from .common import checkpoint_path
from .fine_tuning import FineTuningRun
from .gan import GANRun
from .language_model import LanguageModelRun, load_for_generation
from .masked_language_model import MaskedLanguageModelRun, fill, load_for_filling
from .node_classifier import NodeRun
from .sequence_classifier import SequenceRun

__all__ = ["ClassifierRun", "SequenceRun", "NodeRun", "GANRun", "LanguageModelRun", "MaskedLanguageModelRun",
           "FineTuningRun", "checkpoint_path", "load_for_generation", "load_for_filling", "fill"]
