"""Compile (or load from the cache) every kernel, so a class never waits on the compiler."""
import numpy as np

from . import config, functional as F
from . import nn, optim, quant
from .creation import tensor


def compile_all(dtypes):
    """Run each particle forward and backward and each optimizer step once per dtype; returns the calls made."""
    calls = 0
    for dtype in dtypes:
        rng = np.random.default_rng(0)
        x = tensor(rng.random((2, 3)) + 0.5, dtype=dtype, requires_grad=True)
        b = tensor(rng.random((3,)) + 0.5, dtype=dtype, requires_grad=True)
        w = tensor(rng.random((4, 3)), dtype=dtype, requires_grad=True)
        targets = tensor([1, 3])
        probabilities = tensor(rng.random((2, 3)) * 0.8 + 0.1, dtype=dtype)
        results = [
            x + b, x - b, x * b, x / b, x**b, -x, x.exp(), x.log(), x.sqrt(), x**2, x.relu(), F.leaky_relu(x),
            x.sigmoid(), x.tanh(), F.gelu(x), x.sum(0), x.mean(1), x.max(), x.softmax(-1), x.log_softmax(0),
            F.cross_entropy(F.linear(x, w, tensor(np.zeros(4), dtype=dtype)), targets),
            F.mse_loss(x, probabilities), F.binary_cross_entropy(probabilities * 0 + x.sigmoid(), probabilities),
            F.binary_cross_entropy_with_logits(x, probabilities), F.dropout(x, 0.5), x[[0, 0]],
            F.where(x > 1.0, x, b), F.embedding(targets, w), F.positional_encoding(x[None]),
            F.layer_norm(x, 3, b, b), F.scaled_dot_product_attention(x[None], x[None], x[None], causal=True),
            F.gelu(x, approximate="tanh"), F.silu(x), F.softplus(x), F.elu(x), x.abs(), x.sign(), x.sin(), x.cos(),
            x.clamp(0.6, 1.2), x.maximum(b), x.max(1).values, x.cumsum(1), x[:, :1].expand(2, 3),
        ]
        with config.override(cpu_products="every_core"):   # a large product's kernel (cpu.products_kernel)
            big = tensor(rng.random((64, 64)), dtype=dtype, requires_grad=True)
            results.append(F.linear(big, big, big[0]))
        attention = nn.MultiHeadAttention(8, 2, causal=True)   # the attention kernels on heads' strided views
        results.append(attention.to(dtype)(tensor(rng.random((1, 3, 8)), dtype=dtype)))
        sequence = tensor(rng.random((2, 2, 3)), dtype=dtype)   # the recurrent cells, both nonlinearities of the RNN's
        for layer in (nn.LSTM(3, 2), nn.GRU(3, 2), nn.RNN(3, 2), nn.RNN(3, 2, nonlinearity="relu")):
            results.append(layer.to(dtype)(sequence)[0])
        image = tensor(rng.random((1, 2, 4, 4)), dtype=dtype, requires_grad=True)
        results += [nn.Conv2d(2, 2, 3, padding=1).to(dtype)(image), F.max_pool2d(image, 2), F.avg_pool2d(image, 2),
                    F.adaptive_avg_pool2d(image, 1), nn.BatchNorm2d(2).to(dtype)(image)]
        results.append(quant.fake_quantize(x, 0.1, 0))
        if dtype == "float32":   # integers have no backward: the int8 layer (quantize, the int8 product), dequantize
            quant.QuantizedLinear.from_float(nn.Linear(3, 4))(x.detach())
            quant.dequantize(quant.quantize_per_tensor(x, 0.1, 0), 0.1, 0)
            calls += 2
        for result in results:
            result.sum().backward()
            calls += 1
        for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), optim.Adam, optim.Adadelta, optim.RMSprop):
            parameter = nn.Parameter(tensor(rng.random(3), dtype=dtype))
            parameter.grad = tensor(rng.random(3), dtype=dtype)
            make([parameter]).step()
            optim.clip_grad_norm_([parameter], 1.0)
            calls += 1
    return calls
