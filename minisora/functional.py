"""minisora.functional (imported as F): every particle as a plain function of tensors.

An op that is also a Tensor method (exp, relu, softmax, ...) is wired once, as the method:
F.softmax(x, dim) is x.softmax(dim), with the same signature, aliases and checks.
"""
import functools

import numpy as np

from . import errors
from . import autograd
from . import random as ms_random
from .particles import arithmetic, attention, dropout as dropout_particle, embedding as embedding_particle
from .particles import activations, layer_norm as layer_norm_particle, losses, matmul as matmul_particle
from .particles import multi_head_attention as multi_head_particle, positional, shape
from .tensor import Tensor, dim_or_axis, operand, scalar_dtype


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


def cross_entropy(logits, targets, reduction="mean"):
    """Mean of -log softmax(logits)[target] over rows; targets are integer class ids."""
    logits = as_tensor(logits)
    return autograd.call(losses.CrossEntropy, logits, as_tensor(targets, logits), reduction=reduction)


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
    # the mask is small and shaped once per call on the host, whatever device q is on
    mask = None if attn_mask is None else attn_mask.numpy() if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    output, ctx = autograd.call_with_context(attention.ScaledDotProductAttention, as_tensor(q), as_tensor(k),
                                             as_tensor(v), causal=causal, mask=mask, scale=scale,
                                             need_weights=bool(need_weights))
    if not need_weights:
        return output
    return output, Tensor._make(ctx.saved[-1], output.device, None)


def multi_head_attention(qkv, heads, causal=False):
    """Attention of `heads` heads on the packed projection qkv (B, T, 3 D) = [x Wq | x Wk | x Wv]:
    split into heads, attend, merge -> (B, T, D), without copying the heads (the fused particle
    multi_head_attention; nn.MultiHeadAttention's path when it is not asked for the weights)."""
    return autograd.call(multi_head_particle.MultiHeadAttention, as_tensor(qkv), heads=int(heads), causal=bool(causal))


def cat(tensors, dim=0, *, axis=None):
    return autograd.call(shape.Cat, *(as_tensor(t) for t in tensors), dim=dim_or_axis(dim, axis, 0))


def stack(tensors, dim=0, *, axis=None):
    return autograd.call(shape.Stack, *(as_tensor(t) for t in tensors), dim=dim_or_axis(dim, axis, 0))


split, chunk = method_as_function(Tensor.split), method_as_function(Tensor.chunk)


def where(condition, a, b):
    """a where condition holds, else b (all three broadcast together; a or b may be numbers, typed
    as PyTorch types them: where(c, 1, 3) is int64, where(c, 1.0, 3) float32)."""
    condition = as_tensor(condition)
    tensors = [t for t in (a, b) if isinstance(t, Tensor)]
    like = tensors[0] if tensors else Tensor(0, dtype=scalar_dtype(a, b), device=condition.device)
    return autograd.call(arithmetic.Where, condition, operand(a, like), operand(b, like))
