"""The particle calls whose PyTorch results particles.npz holds (shared by the maker and the test).

Each case: (name, input shapes, torch expression, minisora expression); the inputs are float64
normals from a fixed seed, and both sides return (output, gradients of every input) for the
weighted sum sum(output * g) with a fixed random g.
"""
CASES = {
    "linear": [(5, 3), (4, 3), (4,)],
    "relu": [(3, 4)],
    "leaky_relu": [(3, 4)],
    "sigmoid": [(3, 4)],
    "tanh": [(3, 4)],
    "gelu_tanh": [(3, 4)],
    "softmax": [(3, 5)],
    "log_softmax": [(3, 5)],
    "cross_entropy": [(4, 6)],
    "mse_loss": [(3, 4), (3, 4)],
    "bce_with_logits": [(3, 4)],
    "layer_norm": [(2, 3, 6), (6,), (6,)],
    "embedding": [(7, 5)],
    "attention_causal": [(2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 3)],
    "matmul_batched": [(2, 3, 4), (4, 5)],
}
TARGETS = [1, 0, 5, 3]          # cross_entropy class ids
PROBABILITIES_SEED = 7          # bce targets in (0, 1)
IDS = [[0, 3, 3], [6, 1, 0]]    # embedding ids (repeats on purpose)
