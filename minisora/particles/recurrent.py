"""Recurrent cells: one time step of an RNN, an LSTM or a GRU, with PyTorch's equations and gate order.

A recurrent layer applies the same cell at every step t, to that step's input x_t and the state
the step before left. Its two products are split apart: the input's, gx = x_t W_ih^T + b_ih, does
not depend on the state, so a layer computes it for every step at once (one large `linear`);
the hidden one, gh = h W_hh^T + b_hh, must wait for the step before. A cell particle takes gx,
does the hidden product (BLAS / the GEMM) and then all the gate math in one fused kernel:

    rnn_cell   h' = act(gx + gh)                                    act = tanh or relu
    lstm_cell  [i, f, g, o] = gx + gh    (4 blocks of H: input, forget, cell, output gates)
               i, f, o = sigmoid(.),  g = tanh(.)
               c' = f c + i g,   h' = o tanh(c')
    gru_cell   [r, z, n] blocks of gx and gh (reset, update, new)
               r = sigmoid(gx_r + gh_r),  z = sigmoid(gx_z + gh_z)
               n = tanh(gx_n + r gh_n)          (r scales the hidden product and its bias)
               h' = (1 - z) n + z h

Backward, one fused kernel gives the gradient of each gate's input (dG), then products:
    dgx = dG,   dh = dG_h W_hh (+ what h reaches h' by directly),   dW_hh = dG_h^T h,   db_hh = sum of dG_h's rows
    rnn:   dG = dh' act'(h')      (tanh: 1 - h'^2;  relu: 1 where h' > 0)
    lstm:  dc  = dc' + dh' o (1 - tanh(c')^2)
           dG  = [dc g i (1 - i),  dc c f (1 - f),  dc i (1 - g^2),  dh' tanh(c') o (1 - o)]
           dc_prev = dc f
    gru:   dn = dh' (1 - z),  dz = dh' (h - n),  dan = dn (1 - n^2)
           dG_x = [dan gh_n r (1 - r),  dz z (1 - z),  dan],  dG_h = [same,  same,  dan r]
           dh_prev = dG_h W_hh + dh' z

Sequences of different lengths, padded to one length T: `active` is how many rows still step
(the longest sequences first, as PyTorch's packed sequences are sorted). The other rows keep
their state unchanged, and their gradient passes straight back to the step before: padding
changes neither the result nor the gradient. Backpropagation through time is the graph of these
cell calls, one per step; inspect.trace() shows them.
"""
import numpy as np

from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import float32_faster, kernel, scalar
from .activations import ONE32, ZERO32, relu_value, sigmoid_value, tanh_rational, tanh_value
from .matmul import product, transposed
from .particle import Particle, describe
from .softmax import exp_float32


@scalar(inline=False)
def sigmoid_float32(x):
    """sigmoid in float32 vector arithmetic (softmax.exp_float32 of -|x|: no overflow either way)."""
    e = exp_float32(-abs(x))
    s = ONE32 / (ONE32 + e)
    return s if x >= ZERO32 else e * s


# The gate nonlinearities: exact in float64 (gradient checks), vector arithmetic in float32.
sigmoid_gate = float32_faster(sigmoid_value, sigmoid_float32)
tanh_gate = float32_faster(tanh_value, tanh_rational)


# The NumPy references --------------------------------------------------------------------------
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def steps_of(h, active):
    return len(h) if active is None else int(active)


def hidden_reference(h, weight, bias, rows):
    return h[:rows] @ weight.T + (0 if bias is None else bias)


def kept(new, old, rows):
    """The stepped rows, then the rows that did not step, as they were."""
    return np.concatenate([new, old[rows:]])


def rnn_cell_reference(gx, h, weight, bias=None, nonlinearity="tanh", active=None):
    rows = steps_of(h, active)
    z = gx[:rows] + hidden_reference(h, weight, bias, rows)
    return kept(np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0), h, rows)


def rnn_cell_backward_reference(gx, h, weight, *bias_and_grad, nonlinearity="tanh", active=None):
    *bias, grad = bias_and_grad
    bias = bias[0] if bias else None
    rows = steps_of(h, active)
    new = rnn_cell_reference(gx, h, weight, bias, nonlinearity, active)[:rows]
    grad_z = grad[:rows] * (1 - new ** 2 if nonlinearity == "tanh" else (new > 0))
    return cell_grads_reference(gx, h, weight, bias, grad_z, grad_z, grad[rows:], rows)


def cell_grads_reference(gx, h, weight, bias, grad_x_gates, grad_h_gates, passed_h, rows, direct=0):
    """(dgx, dh, dW, [db]) from the gates' gradients: the products of the module docstring."""
    grad_gx = np.zeros_like(gx)
    grad_gx[:rows] = grad_x_gates
    grad_h = np.concatenate([grad_h_gates @ weight + direct, passed_h])
    grads = (grad_gx, grad_h, grad_h_gates.T @ h[:rows])
    return grads + (() if bias is None else (grad_h_gates.sum(0),))


def lstm_cell_reference(gx, h, c, weight, bias=None, active=None):
    rows = steps_of(h, active)
    i, f, g, o = np.split(gx[:rows] + hidden_reference(h, weight, bias, rows), 4, axis=1)
    c_new = sigmoid(f) * c[:rows] + sigmoid(i) * np.tanh(g)
    return kept(sigmoid(o) * np.tanh(c_new), h, rows), kept(c_new, c, rows)


def lstm_cell_backward_reference(gx, h, c, weight, *bias_and_grads, active=None):
    *bias, (grad_h, grad_c) = bias_and_grads
    bias = bias[0] if bias else None
    rows = steps_of(h, active)
    i, f, g, o = np.split(gx[:rows] + hidden_reference(h, weight, bias, rows), 4, axis=1)
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    t = np.tanh(f * c[:rows] + i * g)
    dh = grad_h[:rows]
    dc = grad_c[:rows] + dh * o * (1 - t ** 2)
    grad_gates = np.concatenate([dc * g * i * (1 - i), dc * c[:rows] * f * (1 - f), dc * i * (1 - g ** 2),
                                 dh * t * o * (1 - o)], axis=1)
    grads = cell_grads_reference(gx, h, weight, bias, grad_gates, grad_gates, grad_h[rows:], rows)
    return grads[:2] + (kept(dc * f, grad_c, rows),) + grads[2:]


def gru_cell_reference(gx, h, weight, bias=None, active=None):
    rows = steps_of(h, active)
    x_r, x_z, x_n = np.split(gx[:rows], 3, axis=1)
    h_r, h_z, h_n = np.split(hidden_reference(h, weight, bias, rows), 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return kept((1 - z) * n + z * h[:rows], h, rows)


def gru_cell_backward_reference(gx, h, weight, *bias_and_grad, active=None):
    *bias, grad = bias_and_grad
    bias = bias[0] if bias else None
    rows = steps_of(h, active)
    x_r, x_z, x_n = np.split(gx[:rows], 3, axis=1)
    h_r, h_z, h_n = np.split(hidden_reference(h, weight, bias, rows), 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    dh = grad[:rows]
    dan = dh * (1 - z) * (1 - n ** 2)
    da_r, da_z = dan * h_n * r * (1 - r), dh * (h[:rows] - n) * z * (1 - z)
    return cell_grads_reference(gx, h, weight, bias, np.concatenate([da_r, da_z, dan], axis=1),
                                np.concatenate([da_r, da_z, dan * r], axis=1), grad[rows:], rows, direct=dh * z)


# The fused kernels ------------------------------------------------------------------------------
# On the CPU a row's gates are worked out one nonlinearity a loop (a loop that calls one small
# function is one the compiler turns into vector instructions; the whole cell in one loop body
# ran 4x slower), then the state from them. On the GPU a thread does one unit (r, j) of the state
# and its gates. Rows r >= rows did not step: their state and its gradient pass through (`carry`).
@scalar
def carry(before, rows, after):
    """after[r] = before[r] for the rows r >= rows, which did not step."""
    for r in range(rows, after.shape[0]):
        for j in range(after.shape[1]):
            after[r, j] = before[r, j]


@scalar
def blank(rows, grad):
    """grad[r] = 0 for the rows r >= rows: what did not step gets no gradient from this step."""
    for r in range(rows, grad.shape[0]):
        for j in range(grad.shape[1]):
            grad[r, j] = 0.0


@scalar
def sigmoids(gx, gh, r, first, last, gates):
    for j in range(first, last):
        gates[r, j] = sigmoid_gate(gx[r, j] + gh[r, j])


@scalar
def tanhs(gx, gh, r, first, last, gates):
    for j in range(first, last):
        gates[r, j] = tanh_gate(gx[r, j] + gh[r, j])


@kernel
def rnn_cell_kernel(gx, gh, h_prev, rows, relu, h_out):
    for r in range(rows):
        if relu:
            for j in range(h_out.shape[1]):
                h_out[r, j] = relu_value(gx[r, j] + gh[r, j])
        else:
            tanhs(gx, gh, r, 0, h_out.shape[1], h_out)
    carry(h_prev, rows, h_out)


@kernel
def rnn_cell_backward_kernel(h_out, grad_h, rows, relu, grad_z, grad_h_prev):
    for r in range(rows):
        for j in range(h_out.shape[1]):
            y = h_out[r, j]
            if relu:
                grad_z[r, j] = grad_h[r, j] if y > ZERO32 else ZERO32
            else:
                grad_z[r, j] = grad_h[r, j] * (ONE32 - y * y)
    blank(rows, grad_z)
    carry(grad_h, rows, grad_h_prev)


@kernel
def lstm_cell_kernel(gx, gh, c_prev, h_prev, rows, gates, c_out, h_out):
    hidden = h_out.shape[1]
    for r in range(rows):
        sigmoids(gx, gh, r, 0, 2 * hidden, gates)             # i, f
        tanhs(gx, gh, r, 2 * hidden, 3 * hidden, gates)       # g
        sigmoids(gx, gh, r, 3 * hidden, 4 * hidden, gates)    # o
        for j in range(hidden):
            c_out[r, j] = gates[r, hidden + j] * c_prev[r, j] + gates[r, j] * gates[r, 2 * hidden + j]
        for j in range(hidden):
            h_out[r, j] = gates[r, 3 * hidden + j] * tanh_gate(c_out[r, j])
    carry(c_prev, rows, c_out)
    carry(h_prev, rows, h_out)


@kernel
def lstm_cell_backward_kernel(gates, c_prev, c_out, grad_h, grad_c, rows, grad_gates, grad_c_prev, grad_h_prev):
    hidden = grad_h_prev.shape[1]
    for r in range(rows):
        for j in range(hidden):   # tanh(c') again (cheaper to recompute than to keep), for now in dh_prev
            grad_h_prev[r, j] = tanh_gate(c_out[r, j])
        for j in range(hidden):
            i, f, g, o = gates[r, j], gates[r, hidden + j], gates[r, 2 * hidden + j], gates[r, 3 * hidden + j]
            t, dh = grad_h_prev[r, j], grad_h[r, j]
            dc = grad_c[r, j] + dh * o * (ONE32 - t * t)
            grad_gates[r, j] = dc * g * i * (ONE32 - i)
            grad_gates[r, hidden + j] = dc * c_prev[r, j] * f * (ONE32 - f)
            grad_gates[r, 2 * hidden + j] = dc * i * (ONE32 - g * g)
            grad_gates[r, 3 * hidden + j] = dh * t * o * (ONE32 - o)
            grad_c_prev[r, j] = dc * f
    blank(rows, grad_gates)
    carry(grad_c, rows, grad_c_prev)
    carry(grad_h, rows, grad_h_prev)


@kernel
def gru_cell_kernel(gx, gh, h_prev, rows, gates, h_out):
    hidden = h_out.shape[1]
    for r in range(rows):
        sigmoids(gx, gh, r, 0, 2 * hidden, gates)             # r, z
        for j in range(hidden):
            gates[r, 3 * hidden + j] = gh[r, 2 * hidden + j]   # gh_n, kept for dr
            gates[r, 2 * hidden + j] = gx[r, 2 * hidden + j] + gates[r, j] * gh[r, 2 * hidden + j]
        for j in range(hidden):
            gates[r, 2 * hidden + j] = tanh_gate(gates[r, 2 * hidden + j])   # n
        for j in range(hidden):
            update = gates[r, hidden + j]
            h_out[r, j] = (ONE32 - update) * gates[r, 2 * hidden + j] + update * h_prev[r, j]
    carry(h_prev, rows, h_out)


@scalar
def gru_unit_backward(gates, h_prev, grad_h, grad_gx, grad_gh, grad_h_prev, r, j):
    hidden = grad_h_prev.shape[1]
    dh = grad_h[r, j]
    reset, update, n, hidden_new = gates[r, j], gates[r, hidden + j], gates[r, 2 * hidden + j], gates[r, 3 * hidden + j]
    dan = dh * (ONE32 - update) * (ONE32 - n * n)
    da_reset = dan * hidden_new * reset * (ONE32 - reset)
    da_update = dh * (h_prev[r, j] - n) * update * (ONE32 - update)
    grad_gx[r, j], grad_gx[r, hidden + j], grad_gx[r, 2 * hidden + j] = da_reset, da_update, dan
    grad_gh[r, j], grad_gh[r, hidden + j], grad_gh[r, 2 * hidden + j] = da_reset, da_update, dan * reset
    grad_h_prev[r, j] = dh * update   # h reaches h' directly too: the product adds dG_h W_hh


@kernel
def gru_cell_backward_kernel(gates, h_prev, grad_h, rows, grad_gx, grad_gh, grad_h_prev):
    for r in range(rows):
        for j in range(grad_h_prev.shape[1]):
            gru_unit_backward(gates, h_prev, grad_h, grad_gx, grad_gh, grad_h_prev, r, j)
    blank(rows, grad_gx)
    carry(grad_h, rows, grad_h_prev)


# GPU twins: a thread per unit (r, j) of the last argument, the (batch, H) state it writes.
@gpu_kernel
def rnn_cell_gpu(gx, gh, h_prev, rows, relu, h_out):
    hidden = h_out.shape[1]
    for e in range(cuda.grid(1), h_out.size, cuda.gridsize(1)):
        r, j = e // hidden, e % hidden
        if r >= rows:
            h_out[r, j] = h_prev[r, j]
        elif relu:
            h_out[r, j] = relu_value(gx[r, j] + gh[r, j])
        else:
            h_out[r, j] = tanh_gate(gx[r, j] + gh[r, j])


@gpu_kernel
def rnn_cell_backward_gpu(h_out, grad_h, rows, relu, grad_z, grad_h_prev):
    hidden = grad_h_prev.shape[1]
    for e in range(cuda.grid(1), grad_h_prev.size, cuda.gridsize(1)):
        r, j = e // hidden, e % hidden
        y = h_out[r, j]
        if r >= rows:
            grad_z[r, j] = 0.0
            grad_h_prev[r, j] = grad_h[r, j]
        elif relu:
            grad_z[r, j] = grad_h[r, j] if y > 0 else 0.0
        else:
            grad_z[r, j] = grad_h[r, j] * (1 - y * y)


@gpu_kernel
def lstm_cell_gpu(gx, gh, c_prev, h_prev, rows, gates, c_out, h_out):
    hidden = h_out.shape[1]
    for e in range(cuda.grid(1), h_out.size, cuda.gridsize(1)):
        r, j = e // hidden, e % hidden
        if r >= rows:
            c_out[r, j], h_out[r, j] = c_prev[r, j], h_prev[r, j]
            continue
        for k in range(4):
            z = gx[r, k * hidden + j] + gh[r, k * hidden + j]
            gates[r, k * hidden + j] = tanh_gate(z) if k == 2 else sigmoid_gate(z)
        c = gates[r, hidden + j] * c_prev[r, j] + gates[r, j] * gates[r, 2 * hidden + j]
        c_out[r, j] = c
        h_out[r, j] = gates[r, 3 * hidden + j] * tanh_gate(c)


@gpu_kernel
def lstm_cell_backward_gpu(gates, c_prev, c_out, grad_h, grad_c, rows, grad_gates, grad_c_prev, grad_h_prev):
    hidden = grad_h_prev.shape[1]
    for e in range(cuda.grid(1), grad_h_prev.size, cuda.gridsize(1)):
        r, j = e // hidden, e % hidden
        if r >= rows:
            for k in range(4):
                grad_gates[r, k * hidden + j] = 0.0
            grad_c_prev[r, j], grad_h_prev[r, j] = grad_c[r, j], grad_h[r, j]
            continue
        i, f, g, o = gates[r, j], gates[r, hidden + j], gates[r, 2 * hidden + j], gates[r, 3 * hidden + j]
        t, dh = tanh_gate(c_out[r, j]), grad_h[r, j]
        dc = grad_c[r, j] + dh * o * (1 - t * t)
        grad_gates[r, j] = dc * g * i * (1 - i)
        grad_gates[r, hidden + j] = dc * c_prev[r, j] * f * (1 - f)
        grad_gates[r, 2 * hidden + j] = dc * i * (1 - g * g)
        grad_gates[r, 3 * hidden + j] = dh * t * o * (1 - o)
        grad_c_prev[r, j] = dc * f


@gpu_kernel
def gru_cell_gpu(gx, gh, h_prev, rows, gates, h_out):
    hidden = h_out.shape[1]
    for e in range(cuda.grid(1), h_out.size, cuda.gridsize(1)):
        r, j = e // hidden, e % hidden
        if r >= rows:
            h_out[r, j] = h_prev[r, j]
            continue
        reset = sigmoid_gate(gx[r, j] + gh[r, j])
        update = sigmoid_gate(gx[r, hidden + j] + gh[r, hidden + j])
        n = tanh_gate(gx[r, 2 * hidden + j] + reset * gh[r, 2 * hidden + j])
        gates[r, j], gates[r, hidden + j], gates[r, 2 * hidden + j] = reset, update, n
        gates[r, 3 * hidden + j] = gh[r, 2 * hidden + j]
        h_out[r, j] = (1 - update) * n + update * h_prev[r, j]


@gpu_kernel
def gru_cell_backward_gpu(gates, h_prev, grad_h, rows, grad_gx, grad_gh, grad_h_prev):
    hidden = grad_h_prev.shape[1]
    for e in range(cuda.grid(1), grad_h_prev.size, cuda.gridsize(1)):
        r, j = e // hidden, e % hidden
        if r >= rows:
            for k in range(3):
                grad_gx[r, k * hidden + j] = 0.0
            grad_h_prev[r, j] = grad_h[r, j]
        else:
            gru_unit_backward(gates, h_prev, grad_h, grad_gx, grad_gh, grad_h_prev, r, j)


# The particles ----------------------------------------------------------------------------------
class RecurrentCell(Particle):
    """What the three cells share: checking their inputs, the hidden product and its backward."""

    gate_count = 1          # blocks of H in gx and W_hh
    states = ("h",)         # the state tensors after gx, each (batch, H)

    @classmethod
    def checked(cls, gx, states, weight, bias, active):
        """The inputs packed (kernels read packed memory), after the checks; and the rows that step."""
        cls.require_float(gx, *states, weight, *(() if bias is None else (bias,)))
        arrays = (gx,) + states + (weight,) + (() if bias is None else (bias,))
        if len({a.dtype for a in arrays}) > 1:
            cls.fail("inputs must share a dtype: " + ", ".join(map(describe, arrays)), TypeError)
        h = states[0]
        names = " and ".join(cls.states)
        if h.ndim != 2 or any(s.shape != h.shape for s in states):
            cls.fail(f"the state {names} must be (batch, hidden): got " + ", ".join(map(describe, states)))
        batch, hidden = h.shape
        width = cls.gate_count * hidden
        if gx.shape != (batch, width):
            cls.fail(f"gx {describe(gx)} must be (batch, {cls.gate_count} * hidden) = ({batch}, {width}) "
                     f"for the state {describe(h)}")
        if weight.shape != (width, hidden):
            cls.fail(f"weight_hh {describe(weight)} must be ({cls.gate_count} * hidden, hidden) = ({width}, {hidden})")
        if bias is not None and bias.shape != (width,):
            cls.fail(f"bias_hh {describe(bias)} must be ({width},)")
        rows = batch if active is None else active
        if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or not 0 <= rows <= batch:
            cls.fail(f"active must be a number of rows from 0 to the batch of {batch}, got {active!r}")
        return int(rows)

    @staticmethod
    def hidden_product(ctx, h, weight, bias, rows):
        """gh = h[:rows] W_hh^T + b_hh, (rows, G H): on BLAS on the CPU, the GEMM on the GPU."""
        if rows == 0:
            return ctx.backend.zeros((0, weight.shape[0]), h.dtype)
        return product(ctx, h[:rows], transposed(ctx.backend, weight), bias)

    @staticmethod
    def hidden_backward(ctx, grad_gh, h, weight, rows, grad_h_prev, has_bias, adds_to_h=False):
        """dh[:rows] = dG_h W_hh (written into grad_h_prev's rows, or added to what is there),
        dW_hh = dG_h^T h[:rows] and db_hh = the column sums of dG_h (in the same product)."""
        backend = ctx.backend
        needs = ctx.needs_input_grad
        grad_weight = grad_bias = None
        if rows == 0:
            zeros = backend.zeros(weight.shape, weight.dtype), backend.zeros(weight.shape[:1], weight.dtype)
            return zeros if has_bias else zeros[:1]
        if adds_to_h:
            backend.add_into(grad_h_prev[:rows], product(ctx, grad_gh, weight))
        else:
            product(ctx, grad_gh, weight, out=grad_h_prev[:rows])
        needs_bias = has_bias and needs[-1]
        if needs[-2 if has_bias else -1] or needs_bias:
            grad_bias = backend.empty(weight.shape[:1], weight.dtype) if has_bias else None
            grad_weight = product(ctx, transposed(backend, grad_gh), h[:rows], row_sums=grad_bias)
        return (grad_weight, grad_bias) if has_bias else (grad_weight,)

    @staticmethod
    def grads_in(ctx, grads, shape, dtype):
        """The gradient of each result, packed and of the inputs' dtype (zeros for a result nothing used)."""
        backend = ctx.backend
        grads = grads if type(grads) is tuple else (grads,)
        return tuple(backend.zeros(shape, dtype) if g is None else backend.contiguous(backend.astype(g, dtype))
                     for g in grads)


class RNNCell(RecurrentCell):
    name = "rnn_cell"
    formula = "h' = act(gx + h W_hh^T + b_hh),  act = tanh or relu"
    gradient = "dG = dh' act'(h'); dgx = dG, dh = dG W_hh, dW_hh = dG^T h, db_hh = sum of dG's rows"
    kernels = (rnn_cell_kernel.on_gpu(rnn_cell_gpu), rnn_cell_backward_kernel.on_gpu(rnn_cell_backward_gpu))

    @classmethod
    def forward(cls, ctx, gx, h, weight, bias=None, nonlinearity="tanh", active=None):
        if nonlinearity not in ("tanh", "relu"):
            cls.fail(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        rows = cls.checked(gx, (h,), weight, bias, active)
        backend = ctx.backend
        gx, h = backend.contiguous(gx), backend.contiguous(h)
        gh = cls.hidden_product(ctx, h, weight, bias, rows)
        h_out = backend.empty(h.shape, h.dtype)
        ctx.run(rnn_cell_kernel, gx, gh, h, rows, nonlinearity == "relu", h_out)
        ctx.save(h, weight, h_out)
        ctx.rows, ctx.relu, ctx.has_bias = rows, nonlinearity == "relu", bias is not None
        return h_out

    @classmethod
    def backward(cls, ctx, grad_h):
        h, weight, h_out = ctx.saved
        backend = ctx.backend
        (grad_h,) = cls.grads_in(ctx, grad_h, h.shape, h.dtype)
        grad_z, grad_h_prev = backend.empty((h.shape[0], weight.shape[0]), h.dtype), backend.empty(h.shape, h.dtype)
        ctx.run(rnn_cell_backward_kernel, h_out, grad_h, ctx.rows, ctx.relu, grad_z, grad_h_prev)
        rows = ctx.rows
        return (grad_z, grad_h_prev) + cls.hidden_backward(ctx, grad_z[:rows], h, weight, rows, grad_h_prev,
                                                           ctx.has_bias)

    reference = staticmethod(rnn_cell_reference)
    reference_backward = staticmethod(rnn_cell_backward_reference)


class LSTMCell(RecurrentCell):
    name = "lstm_cell"
    formula = "[i f g o] = gx + h W_hh^T + b_hh; c' = sig(f) c + sig(i) tanh(g); h' = sig(o) tanh(c')"
    gradient = ("dc = dc' + dh' o (1 - tanh(c')^2); dG = [dc g i(1-i), dc c f(1-f), dc i (1-g^2), "
                "dh' tanh(c') o(1-o)]; dc_prev = dc f; dh = dG W_hh, dW_hh = dG^T h, db_hh = sum dG")
    kernels = (lstm_cell_kernel.on_gpu(lstm_cell_gpu), lstm_cell_backward_kernel.on_gpu(lstm_cell_backward_gpu))
    gate_count, states = 4, ("h", "c")

    @classmethod
    def forward(cls, ctx, gx, h, c, weight, bias=None, active=None):
        rows = cls.checked(gx, (h, c), weight, bias, active)
        backend = ctx.backend
        gx, h, c = backend.contiguous(gx), backend.contiguous(h), backend.contiguous(c)
        gh = cls.hidden_product(ctx, h, weight, bias, rows)
        gates = backend.empty(gh.shape, h.dtype)
        h_out, c_out = backend.empty(h.shape, h.dtype), backend.empty(h.shape, h.dtype)
        ctx.run(lstm_cell_kernel, gx, gh, c, h, rows, gates, c_out, h_out)
        ctx.save(h, c, weight, gates, c_out)
        ctx.rows, ctx.has_bias = rows, bias is not None
        return h_out, c_out

    @classmethod
    def backward(cls, ctx, grads):
        h, c, weight, gates, c_out = ctx.saved
        backend = ctx.backend
        grad_h, grad_c = cls.grads_in(ctx, grads, h.shape, h.dtype)
        grad_gates = backend.empty((h.shape[0], weight.shape[0]), h.dtype)
        grad_c_prev, grad_h_prev = backend.empty(h.shape, h.dtype), backend.empty(h.shape, h.dtype)
        ctx.run(lstm_cell_backward_kernel, gates, c, c_out, grad_h, grad_c, ctx.rows, grad_gates, grad_c_prev,
                grad_h_prev)
        rows = ctx.rows
        return (grad_gates, grad_h_prev, grad_c_prev) + cls.hidden_backward(
            ctx, grad_gates[:rows], h, weight, rows, grad_h_prev, ctx.has_bias)

    reference = staticmethod(lstm_cell_reference)
    reference_backward = staticmethod(lstm_cell_backward_reference)


class GRUCell(RecurrentCell):
    name = "gru_cell"
    formula = "r, z = sig(gx_r + gh_r), sig(gx_z + gh_z); n = tanh(gx_n + r gh_n); h' = (1 - z) n + z h"
    gradient = ("dan = dh' (1-z)(1-n^2); dG_x = [dan gh_n r(1-r), dh' (h-n) z(1-z), dan], dG_h = [.., .., dan r]; "
                "dh = dG_h W_hh + dh' z, dW_hh = dG_h^T h, db_hh = sum dG_h")
    kernels = (gru_cell_kernel.on_gpu(gru_cell_gpu), gru_cell_backward_kernel.on_gpu(gru_cell_backward_gpu))
    gate_count = 3

    @classmethod
    def forward(cls, ctx, gx, h, weight, bias=None, active=None):
        rows = cls.checked(gx, (h,), weight, bias, active)
        backend = ctx.backend
        gx, h = backend.contiguous(gx), backend.contiguous(h)
        gh = cls.hidden_product(ctx, h, weight, bias, rows)
        gates = backend.empty((rows, 4 * h.shape[1]), h.dtype)   # r, z, n and gh_n (dr needs it)
        h_out = backend.empty(h.shape, h.dtype)
        ctx.run(gru_cell_kernel, gx, gh, h, rows, gates, h_out)
        ctx.save(h, weight, gates)
        ctx.rows, ctx.has_bias = rows, bias is not None
        return h_out

    @classmethod
    def backward(cls, ctx, grad_h):
        h, weight, gates = ctx.saved
        backend = ctx.backend
        (grad_h,) = cls.grads_in(ctx, grad_h, h.shape, h.dtype)
        rows = ctx.rows
        grad_gx = backend.empty((h.shape[0], weight.shape[0]), h.dtype)
        grad_gh, grad_h_prev = backend.empty((rows, weight.shape[0]), h.dtype), backend.empty(h.shape, h.dtype)
        ctx.run(gru_cell_backward_kernel, gates, h, grad_h, rows, grad_gx, grad_gh, grad_h_prev)
        return (grad_gx, grad_h_prev) + cls.hidden_backward(ctx, grad_gh, h, weight, rows, grad_h_prev, ctx.has_bias,
                                                            adds_to_h=True)

    reference = staticmethod(gru_cell_reference)
    reference_backward = staticmethod(gru_cell_backward_reference)
