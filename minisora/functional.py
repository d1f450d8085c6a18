"""minisora.functional (imported as F): every particle as a plain function of tensors.

An op that is also a Tensor method (exp, relu, softmax, ...) is wired once, as the method:
F.softmax(x, dim) is x.softmax(dim), with the same signature, aliases and checks.
"""
import functools
import math

import numpy as np

from . import autograd, errors
from . import random as ms_random
from .particles import arithmetic, attention, dropout as dropout_particle, embedding as embedding_particle
from .particles import activations, batch_norm as batch_norm_particle, conv_transpose, convolution
from .particles import graph as graph_particle
from .particles import layer_norm as layer_norm_particle
from .particles import losses, matmul as matmul_particle
from .particles import multi_head_attention as multi_head_particle, pooling, positional, recurrent, shape
from .dims import dim_or_axis
from .graph import Graph
from .dtypes import scalar_dtype
from .tensor import Tensor, operand


def as_tensor(value, like=None):
    if isinstance(value, Tensor):
        return value
    return Tensor(value, device=like.device if like is not None else "cpu")


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias (weight is (out_features, in_features), as in PyTorch)."""
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return autograd.call(matmul_particle.Linear, *(as_tensor(t) for t in inputs))


def matmul(a, b):
    """a @ b (Tensor.__matmul__: one wiring)."""
    return as_tensor(a) @ b


def method_as_function(method):
    """F.name(x, ...) = as_tensor(x).name(...), with the method's signature and docstring."""
    @functools.wraps(method)
    def function(x, *args, **kwargs):
        return method(x if type(x) is Tensor else as_tensor(x), *args, **kwargs)
    return function


exp, log, sqrt = method_as_function(Tensor.exp), method_as_function(Tensor.log), method_as_function(Tensor.sqrt)
abs, sign, sin, cos = (method_as_function(m) for m in (Tensor.abs, Tensor.sign, Tensor.sin, Tensor.cos))
clamp = clip = method_as_function(Tensor.clamp)
maximum, minimum = method_as_function(Tensor.maximum), method_as_function(Tensor.minimum)
relu, sigmoid, tanh = method_as_function(Tensor.relu), method_as_function(Tensor.sigmoid), method_as_function(Tensor.tanh)
softmax, log_softmax = method_as_function(Tensor.softmax), method_as_function(Tensor.log_softmax)


def leaky_relu(x, negative_slope=0.01):
    return autograd.call(activations.LeakyReLU, as_tensor(x), negative_slope=float(negative_slope))


def gelu(x, approximate="none"):
    """GELU as PyTorch's: the exact x Phi(x) (erf) by default, GPT-2's tanh form with approximate='tanh'."""
    if approximate not in GELU_FORMS:
        raise errors.ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return autograd.call(GELU_FORMS[approximate], as_tensor(x))


GELU_FORMS = {"none": activations.GELU, "tanh": activations.GELUTanh}


def silu(x):
    """x sigmoid(x) (also called swish)."""
    return autograd.call(activations.SiLU, as_tensor(x))


def softplus(x, beta=1.0, threshold=20.0):
    """ln(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's signature)."""
    if not beta > 0:
        raise errors.ValueError(f"softplus: beta must be positive, got {beta!r}")
    return autograd.call(activations.Softplus, as_tensor(x), beta=float(beta), threshold=float(threshold))


def elu(x, alpha=1.0):
    """x above 0, alpha (e^x - 1) below."""
    return autograd.call(activations.ELU, as_tensor(x), alpha=float(alpha))


def cross_entropy(logits, targets, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    """-log softmax(logits)[target], per row, then averaged (PyTorch's signature and rules).

    logits: (N, C), (C,) or (N, C, d1, ...) with the classes in dim 1. targets: class ids
    (N,), () or (N, d1, ...), where ignore_index marks rows that count for nothing (also not in
    the mean's count); or class probabilities shaped as logits. label_smoothing e mixes the
    target with the uniform distribution: (1 - e) target + e / C.

    Class ids without smoothing (rows ignored or not) are one fused particle, cross_entropy;
    the rest are log_softmax and nll_loss composed."""
    logits = as_tensor(logits)
    targets = as_tensor(targets, logits)
    losses.check_reduction(losses.CrossEntropy, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise errors.ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if logits.ndim == 1:   # one sample, unbatched
        loss = cross_entropy(logits.unsqueeze(0), targets.unsqueeze(0), reduction, ignore_index, label_smoothing)
        return loss.reshape(()) if reduction == "none" else loss
    if logits.ndim > 2:   # (N, C, d...): every position one row
        probabilities = targets.dtype.kind == "f"
        loss = cross_entropy(classes_last(logits), classes_last(targets) if probabilities else targets.reshape(-1),
                             reduction, ignore_index, label_smoothing)
        return per_position(loss, logits.shape, reduction)
    if targets.dtype.kind == "f":
        return soft_cross_entropy(logits, targets, reduction, label_smoothing)
    if label_smoothing == 0.0:
        return autograd.call(losses.CrossEntropy, logits, targets, reduction=reduction, ignore_index=ignore_index)
    log_probs = logits.log_softmax(1)
    picked = nll_loss(log_probs, targets, reduction="none", ignore_index=ignore_index)
    counted = targets != ignore_index
    if label_smoothing:   # (1 - e) nll + e * the mean over classes of -log p, rows ignored as nll ignores them
        uniform = -log_probs.mean(1) * counted
        picked = picked * (1.0 - label_smoothing) + uniform * label_smoothing
    return reduce_rows(picked, counted.sum().item(), reduction)


def soft_cross_entropy(logits, probabilities, reduction, label_smoothing):
    """-sum_j p_j log softmax(x)_j per row, for probability targets (a mean over rows, all counted)."""
    if probabilities.shape != logits.shape:
        raise errors.ShapeError(f"cross_entropy: probability targets {probabilities.shape} must have the shape of "
                                f"logits {logits.shape}")
    if label_smoothing:
        probabilities = probabilities * (1.0 - label_smoothing) + label_smoothing / logits.shape[1]
    picked = -(probabilities * logits.log_softmax(1)).sum(1)
    return reduce_rows(picked, picked.shape[0], reduction)


def classes_last(x):
    """(N, C, d1, ...) -> (N d1 ..., C): the classes (dim 1) last, every position one row."""
    return x.permute(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])


def per_position(loss, shape, reduction):
    """A loss of classes_last's rows back in (N, d1, ...) (a reduced loss stays as it is)."""
    return loss.reshape((shape[0],) + shape[2:]) if reduction == "none" else loss


def nll_loss(log_probs, targets, reduction="mean", ignore_index=-100):
    """-log_probs[row, target] per row (after log_softmax, this is cross-entropy), averaged over the
    rows whose target is not ignore_index. log_probs (N, C) or (N, C, d...), targets (N) or (N, d...)."""
    log_probs, targets = as_tensor(log_probs), as_tensor(targets)
    losses.check_reduction(losses.CrossEntropy, reduction)
    if targets.dtype != np.int64:
        raise errors.TypeError(f"nll_loss: targets must be int64 class ids, got {targets.dtype}")
    if log_probs.ndim > 2:
        return per_position(nll_loss(classes_last(log_probs), targets.reshape(-1), reduction, ignore_index),
                            log_probs.shape, reduction)
    if log_probs.ndim != 2 or targets.shape != log_probs.shape[:1]:
        raise errors.ShapeError(f"nll_loss: expected log_probs (N, C) and targets (N,), got {log_probs.shape} and "
                                f"{targets.shape}")
    ids = targets.numpy()   # the places are found on the host, every id checked first
    counted = ids != ignore_index
    classes, valid = log_probs.shape[1], ids[counted]
    outside = valid[(valid < 0) | (valid >= classes)]
    if outside.size:
        raise errors.IndexError(f"nll_loss: target class id {int(outside[0])} is out of range [0, {classes}) "
                                f"(ignore_index is {ignore_index})")
    picked = -log_probs[np.arange(len(ids)), np.where(counted, ids, 0)]
    return reduce_rows(picked * Tensor(counted, device=log_probs.device), int(counted.sum()), reduction)


def reduce_rows(per_row, count, reduction):
    """A loss per row (0 where not counted) reduced: "mean" divides by `count`, how many rows count
    (NaN if none does, as in PyTorch)."""
    if reduction == "none":
        return per_row
    total = per_row.sum()
    if reduction == "sum":
        return total
    return total / count if count else total * math.nan


def mse_loss(input, target, reduction="mean"):
    input = as_tensor(input)
    return autograd.call(losses.MSELoss, input, as_tensor(target, input), reduction=reduction)


def binary_cross_entropy(input, target, reduction="mean"):
    input = as_tensor(input)
    return autograd.call(losses.BinaryCrossEntropy, input, as_tensor(target, input), reduction=reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    input = as_tensor(input)
    return autograd.call(losses.BinaryCrossEntropyWithLogits, input, as_tensor(target, input), reduction=reduction)


def dropout(x, p=0.5, training=True):
    """Zero elements with probability p and scale the rest by 1/(1-p); the identity when not training."""
    x = as_tensor(x)
    if not training or p == 0:
        if not 0.0 <= p <= 1.0:
            raise errors.ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
        return x
    noise = Tensor._make(x.backend.uniform(x.shape, ms_random.generator(), x.dtype), x.device, None)
    return autograd.call(dropout_particle.Dropout, x, noise, p=float(p))


def embedding(ids, weight):
    """Row ids[p] of the table weight (num_embeddings, dim) for every position p of ids."""
    ids = as_tensor(ids)
    return autograd.call(embedding_particle.Embedding, ids, as_tensor(weight))


def positional_encoding(x):
    """x + PE: the sinusoidal table PE(t, 2i) = sin(t / 10000^(2i/d)), PE(t, 2i+1) = cos(...) added at each position."""
    return autograd.call(positional.PositionalEncoding, as_tensor(x))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize the last dim to mean 0, variance 1, then scale by weight and shift by bias (PyTorch's signature)."""
    x = as_tensor(x)
    size = normalized_shape if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if size not in (x.shape[-1:], x.shape[-1]) and size != (x.shape[-1],):
        raise errors.ValueError(f"layer_norm: minisora normalizes the last dim only; normalized_shape {normalized_shape} "
                                f"does not match input shape {x.shape}")
    n = x.shape[-1]
    weight = Tensor(np.ones(n), dtype=x.dtype, device=x.device) if weight is None else as_tensor(weight)
    bias = Tensor(np.zeros(n), dtype=x.dtype, device=x.device) if bias is None else as_tensor(bias)
    return autograd.call(layer_norm_particle.LayerNorm, x, weight, bias, eps=eps)


def scaled_dot_product_attention(q, k, v, causal=False, attn_mask=None, scale=None, need_weights=False,
                                 is_causal=None):
    """softmax(q k^T / sqrt(d) + mask) v over the last two dims; causal hides later positions.

    attn_mask: bool (True = may attend, as in PyTorch) or float (added to the scores).
    need_weights=True also returns the attention weights (..., T, S) for plotting.
    `is_causal` is PyTorch's name for `causal`.
    """
    if is_causal and attn_mask is not None:
        raise errors.ValueError("scaled_dot_product_attention: is_causal=True and an attn_mask together, as PyTorch "
                                "refuses them; fold the causal mask into attn_mask, or pass causal=True (minisora's "
                                "name) to apply both")
    causal = bool(is_causal) if is_causal is not None else bool(causal)
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
        return attention_with_learned_mask(as_tensor(q), as_tensor(k), as_tensor(v), attn_mask, causal, scale,
                                           need_weights)
    # the mask is small and shaped once per call on the host, whatever device q is on
    mask = None if attn_mask is None else attn_mask.numpy() if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    output, ctx = autograd.call_with_context(attention.ScaledDotProductAttention, as_tensor(q), as_tensor(k),
                                             as_tensor(v), causal=causal, mask=mask, scale=scale,
                                             need_weights=bool(need_weights))
    if not need_weights:
        return output
    return output, Tensor._make(ctx.saved[-1], output.device, None)


def attention_with_learned_mask(q, k, v, mask, causal, scale, need_weights):
    """Attention whose float mask is learned (requires grad): the particles matmul, add, softmax,
    matmul composed, so the mask's gradient, dS summed over its broadcast dims, flows by add's
    backward. (The attention particle takes a mask as a constant.)"""
    if mask.dtype.kind != "f":
        raise errors.TypeError(f"scaled_dot_product_attention: a mask that requires grad must be float, got {mask.dtype}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = (q @ k.transpose(-2, -1)) * scale + mask
    if causal:   # position t sees keys s <= t
        hidden = np.triu(np.full(scores.shape[-2:], -np.inf), 1)
        scores = scores + Tensor(hidden, dtype=scores.dtype, device=scores.device)
    weights = scores.softmax(-1)
    output = weights @ v
    return (output, weights) if need_weights else output


def multi_head_attention(qkv, heads, causal=False):
    """Attention of `heads` heads on the packed projection qkv (B, T, 3 D) = [x Wq | x Wk | x Wv]:
    split into heads, attend, merge -> (B, T, D), without copying the heads (the fused particle
    multi_head_attention; nn.MultiHeadAttention's path when it is not asked for the weights)."""
    return autograd.call(multi_head_particle.MultiHeadAttention, as_tensor(qkv), heads=int(heads), causal=bool(causal))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over (N, C, H, W) with weight (O, C / groups, kh, kw), as torch's F.conv2d;
    padding: an int, a pair, "valid" or "same" (stride 1)."""
    return autograd.call(convolution.Conv2d, *tensors_of(input, weight, bias), stride=stride, padding=padding,
                         dilation=dilation, groups=groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C, L) with weight (O, C / groups, k), as torch's F.conv1d."""
    return autograd.call(convolution.Conv1d, *tensors_of(input, weight, bias), stride=stride, padding=padding,
                         dilation=dilation, groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """conv2d's adjoint over (N, C, H, W) with weight (C, O / groups, kh, kw), as torch's
    F.conv_transpose2d: (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1 rows out."""
    return autograd.call(conv_transpose.ConvTranspose2d, *tensors_of(input, weight, bias), stride=stride,
                         padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """The largest number of each kh x kw window (every `stride`, default kernel_size), as torch's F.max_pool2d."""
    return autograd.call(pooling.MaxPool2d, as_tensor(input), kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """The mean of each window (padding counted as 0), as torch's F.avg_pool2d."""
    return autograd.call(pooling.AvgPool2d, as_tensor(input), kernel_size=kernel_size, stride=stride, padding=padding)


def adaptive_avg_pool2d(input, output_size):
    """Means over output_size windows that tile each channel (1: the global average), as torch's."""
    return autograd.call(pooling.AdaptiveAvgPool2d, as_tensor(input), output_size=output_size)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Each channel of input (N, C, ...) normalized, as torch's F.batch_norm: by the batch's mean and
    (biased) variance when training (running_mean and running_var, when given, then move towards
    them by `momentum`, the variance unbiased), else by the running statistics."""
    x = as_tensor(input)
    channels = x.shape[1] if x.ndim > 1 else 0
    weight = Tensor(np.ones(channels), dtype=x.dtype, device=x.device) if weight is None else weight
    bias = Tensor(np.zeros(channels), dtype=x.dtype, device=x.device) if bias is None else bias
    running = tuple(r for r in (running_mean, running_var) if r is not None)
    return autograd.call(batch_norm_particle.BatchNorm, x, *tensors_of(weight, bias, *running), training=bool(training),
                         momentum=float(momentum), eps=float(eps))


def gather_rows(x, index, graph_groups=None):
    """x[index]: row index[e] of x (nodes, ...) for every edge e (the particle gather_rows). Its
    backward adds the rows' gradients per node; `graph_groups` (a Graph's by_source() when index is
    its sources) saves grouping them again."""
    return autograd.call(graph_particle.GatherRows, as_tensor(x), as_tensor(index), groups=graph_groups)


SCATTERS = {"sum": graph_particle.ScatterAdd, "add": graph_particle.ScatterAdd, "mean": graph_particle.ScatterMean,
            "max": graph_particle.ScatterMax}


def scatter(src, index, num_nodes=None, reduce="sum", graph_groups=None, deterministic=False):
    """Rows of src (E, ...) combined into num_nodes rows by index (E,): y[i] = the sum, mean or max of
    src[e] over the e with index[e] = i (0 for a row no edge reaches), as torch_scatter's scatter.
    deterministic=True: the GPU adds in a fixed order too (else with atomics; the CPU always is)."""
    if reduce not in SCATTERS:
        raise errors.ValueError(f"scatter: reduce must be one of {', '.join(SCATTERS)}, got {reduce!r}")
    src, index = as_tensor(src), as_tensor(index)
    if num_nodes is None:
        num_nodes = int(index.numpy().max()) + 1 if index.numel() else 0
    options = {} if reduce == "max" else {"deterministic": bool(deterministic)}
    return autograd.call(SCATTERS[reduce], src, index, num_nodes=num_nodes, groups=graph_groups, **options)


def scatter_add(src, index, num_nodes=None, **options):
    return scatter(src, index, num_nodes, "sum", **options)


def scatter_mean(src, index, num_nodes=None, **options):
    return scatter(src, index, num_nodes, "mean", **options)


def scatter_max(src, index, num_nodes=None, **options):
    return scatter(src, index, num_nodes, "max", **options)


def segment_softmax(scores, index, num_nodes=None, graph_groups=None):
    """The softmax of scores (E,) or (E, heads) over the edges that share index[e] (a target node):
    GAT's attention over each node's neighbours."""
    scores, index = as_tensor(scores), as_tensor(index)
    if num_nodes is None:
        num_nodes = int(index.numpy().max()) + 1 if index.numel() else 0
    return autograd.call(graph_particle.SegmentSoftmax, scores, index, num_nodes=num_nodes, groups=graph_groups)


def spmm(graph, x, values):
    """A x for the sparse A with A[t, s] = values[e] for each edge e = (s -> t): y[t] = sum of
    values[e] x[s] over t's edges. `graph`: an ms.graph.Graph (its groupings built once and kept),
    or a (2, E) integer edge_index (grouped at each call)."""
    if isinstance(graph, Graph):
        return autograd.call(graph_particle.Spmm, as_tensor(values), as_tensor(x), graph.edge_index,
                             by_target=graph.by_target(), by_source=graph.by_source())
    return autograd.call(graph_particle.Spmm, as_tensor(values), as_tensor(x), as_tensor(graph))


def rnn_step(gx, h, weight_hh, bias_hh=None, nonlinearity="tanh", active=None):
    """One RNN step from the input's share gx = x W_ih^T + b_ih (batch, H): act(gx + h W_hh^T +
    b_hh) for the first `active` rows (all by default), the other rows' h unchanged (the
    particle rnn_cell). nn.RNN computes gx for every step at once and calls this per step."""
    return autograd.call(recurrent.RNNCell, *tensors_of(gx, h, weight_hh, bias_hh), nonlinearity=nonlinearity,
                         active=active)


def lstm_step(gx, h, c, weight_hh, bias_hh=None, active=None):
    """One LSTM step from gx = x W_ih^T + b_ih (batch, 4 H, gates i, f, g, o): returns (h', c')
    (the particle lstm_cell; rows past `active` keep their state)."""
    return autograd.call(recurrent.LSTMCell, *tensors_of(gx, h, c, weight_hh, bias_hh), active=active)


def gru_step(gx, h, weight_hh, bias_hh=None, active=None):
    """One GRU step from gx = x W_ih^T + b_ih (batch, 3 H, gates r, z, n): returns h' (the
    particle gru_cell; rows past `active` keep their state)."""
    return autograd.call(recurrent.GRUCell, *tensors_of(gx, h, weight_hh, bias_hh), active=active)


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), as torch.rnn_tanh_cell / rnn_relu_cell."""
    return rnn_step(linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh, nonlinearity)


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """(h', c') of one LSTM step from x and state = (h, c), as torch.lstm_cell."""
    h, c = state
    return lstm_step(linear(x, weight_ih, bias_ih), h, c, weight_hh, bias_hh)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """h' of one GRU step from x and h, as torch.gru_cell."""
    return gru_step(linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh)


def tensors_of(*values):
    """The values that are given (a missing bias is None), as tensors."""
    return tuple(as_tensor(v) for v in values if v is not None)


def cat(tensors, dim=0, *, axis=None):
    return autograd.call(shape.Cat, *(as_tensor(t) for t in tensors), dim=dim_or_axis(dim, axis, 0))


def stack(tensors, dim=0, *, axis=None):
    return autograd.call(shape.Stack, *(as_tensor(t) for t in tensors), dim=dim_or_axis(dim, axis, 0))


split, chunk, unbind = (method_as_function(m) for m in (Tensor.split, Tensor.chunk, Tensor.unbind))
var, std, logsumexp, cumsum = (method_as_function(m) for m in (Tensor.var, Tensor.std, Tensor.logsumexp, Tensor.cumsum))
flatten, flip, tril, triu = (method_as_function(m) for m in (Tensor.flatten, Tensor.flip, Tensor.tril, Tensor.triu))
masked_fill, gather, amax, amin = (method_as_function(m) for m in (Tensor.masked_fill, Tensor.gather, Tensor.amax,
                                                                   Tensor.amin))
argmax, argmin = method_as_function(Tensor.argmax), method_as_function(Tensor.argmin)


def one_hot(tensor, num_classes=-1):
    """(..., num_classes) int64: 1 at each id's place, 0 elsewhere; num_classes=-1 takes the largest id + 1."""
    ids = as_tensor(tensor)
    if ids.dtype != np.int64:
        raise errors.TypeError(f"one_hot: expected an int64 tensor of class ids, got {ids.dtype}")
    host = ids.numpy()
    if num_classes == -1:
        if not host.size:
            raise errors.ValueError("one_hot: cannot infer num_classes from an empty tensor; pass it")
        num_classes = int(host.max()) + 1
    if host.size and (host.min() < 0 or host.max() >= num_classes):
        bad = host[(host < 0) | (host >= num_classes)][0]
        raise errors.IndexError(f"one_hot: class id {int(bad)} is out of range [0, {num_classes})")
    return Tensor(np.arange(num_classes) == host[..., None], dtype="int64", device=ids.device)


def where(condition, a, b):
    """a where condition holds, else b (all three broadcast together; a or b may be numbers, typed
    as PyTorch types them: where(c, 1, 3) is int64, where(c, 1.0, 3) float32)."""
    condition = as_tensor(condition)
    tensors = [t for t in (a, b) if isinstance(t, Tensor)]
    like = tensors[0] if tensors else Tensor(0, dtype=scalar_dtype(a, b), device=condition.device)
    return autograd.call(arithmetic.Where, condition, operand(a, like), operand(b, like))
