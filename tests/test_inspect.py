"""The graph behind a tensor (explain, Mermaid, DOT) and anomaly detection."""
import numpy as np
import pytest

import minisora as ms
from minisora import F


def neuron():
    x = ms.tensor([[1.0, 0.0]])
    w = ms.tensor([[2.0, 3.0]], requires_grad=True)
    b = ms.zeros(1, requires_grad=True)
    return F.relu(F.linear(x, w, b)), {"x": x, "w": w, "b": b}


def test_explain_the_neuron():
    y, names = neuron()
    assert y.item() == 2.0
    assert ms.inspect.explain(y, names).splitlines() == [
        "#4 relu float32[1, 1]   y = max(0, x)",
        "  #3 linear float32[1, 1]   y = x @ W^T + b",
        "    #0 x float32[1, 2]",
        "    #1 w float32[1, 2] (requires grad)",
        "    #2 b float32[1] (requires grad)",
    ]


def test_explain_writes_a_shared_tensor_once_and_takes_names_from_a_module():
    layer = ms.nn.Linear(2, 1)
    w = layer.weight
    z = (w * w).sum() + w.sum()
    text = ms.inspect.explain(z, layer)
    assert text.count("weight float32[1, 2]") == 1 and "(see above)" in text


def test_mermaid_and_dot_of_the_neuron():
    y, names = neuron()
    assert ms.inspect.to_mermaid(y, names) == "\n".join([
        "flowchart BT",
        '    n0(["x float32[1, 2]"])',
        '    n1(["w float32[1, 2] (requires grad)"])',
        '    n2(["b float32[1] (requires grad)"])',
        '    n3["linear float32[1, 1]"]',
        '    n4["relu float32[1, 1]"]',
        "    n0 --> n3", "    n1 --> n3", "    n2 --> n3", "    n3 --> n4",
    ])
    dot = ms.inspect.to_dot(y, names)
    assert dot.startswith("digraph minisora {") and dot.endswith("}")
    assert '    n3 [label="linear float32[1, 1]", shape=box];' in dot
    assert '    n0 [label="x float32[1, 2]", shape=ellipse];' in dot
    assert dot.count("->") == 4


def test_detect_anomaly_names_log_of_a_negative_number():
    with pytest.raises(FloatingPointError, match=r"^log \(forward\) produced 1 NaN and 0 inf in its output"):
        with ms.inspect.detect_anomaly():
            ms.tensor([-1.0, 2.0]).log()
    assert ms.autograd.observers == []   # removed again after the error


def test_detect_anomaly_in_backward_names_the_particle_and_the_incoming_gradient():
    x = ms.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(FloatingPointError, match=r"^sqrt \(backward\) produced 0 NaN and 1 inf in the gradient for input 0"):
        with ms.inspect.detect_anomaly():
            x.sqrt().sum().backward()


def test_detect_anomaly_reports_bad_inputs_and_stays_quiet_on_good_runs():
    bad = np.array([np.nan, 1.0], np.float32)
    with pytest.raises(FloatingPointError, match=r"Inputs: float32\[2\] with 1 NaN, 0 inf"):
        with ms.inspect.detect_anomaly():
            ms.tensor(bad).exp()
    with ms.inspect.detect_anomaly():
        y, _ = neuron()
        y.sum().backward()


def test_trace_records_forward_then_backward_in_order_with_statistics():
    y, names = neuron()
    with ms.inspect.trace() as calls:
        y = F.relu(F.linear(names["x"], names["w"], names["b"]))
        y.backward()
    steps = [(r.phase, r.particle) for r in calls.records]
    assert steps == [("forward", "linear"), ("forward", "relu"), ("backward", "relu"), ("backward", "linear")]
    linear = calls.records[0]
    assert linear.inputs == ["float32[1, 2]", "float32[1, 2]", "float32[1]"] and linear.output == "float32[1, 1]"
    assert (linear.min, linear.max, linear.mean, linear.std, linear.nans, linear.infs) == (2.0, 2.0, 2.0, 0.0, 0, 0)
    backward_linear = calls.records[3]   # gradients sent back: dw = x = (1, 0), db = 1 (x needs none)
    assert backward_linear.output == "float32[1, 2], float32[1]"
    assert backward_linear.min == 0.0 and backward_linear.max == 1.0 and backward_linear.mean == pytest.approx(2 / 3)
    assert "linear" in calls.slowest(2) and '"particle": "relu"' in calls.to_json()


def test_trace_columns_line_up_and_compiling_calls_are_marked():
    import numba
    from minisora.particles import Particle

    class Compiling(Particle):   # no name of its own: it stays out of the catalog
        @staticmethod
        def forward(ctx, x):
            return numba.njit(lambda v: v + 1)(x)   # a function Numba has never seen: compiled in this call

    x = ms.tensor([[1.0, 0.0]])
    w = ms.tensor([[2.0, 3.0], [0.5, -1.0], [-2.0, 1.0]], requires_grad=True)
    with ms.inspect.trace() as t:
        ms.F.cross_entropy(ms.F.linear(x, w), ms.tensor([0])).backward()
        ms.autograd.call(Compiling, ms.tensor([1.0, 2.0]))
    lines = str(t).splitlines()
    assert lines[1] == "-" * len(lines[0]) and all(len(line) == len(lines[0]) for line in lines[2:6])
    assert t.records[-1].compiled and lines[-2].endswith("*") and lines[-1].startswith("* includes compiling")
    with ms.inspect.trace() as warm:
        ms.autograd.call(Compiling, ms.tensor([1.0, 2.0]))   # a new lambda again, so compiled again
        ms.F.linear(x, w)
    assert [r.compiled for r in warm.records] == [True, False]


def test_trace_splits_each_calls_time_into_products_kernels_and_the_rest():
    import time

    from minisora.particles import Particle

    class Sleepy(Particle):   # Python time only: no kernel, no product
        @staticmethod
        def forward(ctx, x):
            time.sleep(0.02)
            return x

    x, w = ms.randn(64, 32), ms.randn(16, 32, requires_grad=True)
    F.relu(F.linear(x, w)).sum().backward()   # compiled before the trace: its times are warm
    with ms.inspect.trace() as t:
        F.relu(F.linear(x, w)).sum().backward()
        ms.autograd.call(Sleepy, x)
    by_call = {(r.phase, r.particle): r for r in t.records}
    linear, relu, sleepy = by_call["forward", "linear"], by_call["forward", "relu"], by_call["forward", "particle"]
    assert 0 < linear.product_seconds <= linear.seconds and linear.kernel_seconds == 0   # the product is BLAS
    assert relu.product_seconds == 0 and 0 < relu.kernel_seconds <= relu.seconds        # relu is a loop kernel
    assert sleepy.product_seconds == sleepy.kernel_seconds == 0 and sleepy.seconds >= 0.02
    products, kernels = t.spent["products"][0], t.spent["kernels"][0]
    assert products == pytest.approx(sum(r.product_seconds for r in t.records))
    assert kernels == pytest.approx(sum(r.kernel_seconds for r in t.records))
    step = products + kernels + 0.5   # a step of 0.5 s more than that: the rest is Python
    shares = t.time_shares(step)
    assert shares["python"][0] == pytest.approx(0.5) and shares["products"][1] == pytest.approx(products / step)
    assert sum(share for _, share, _ in shares.values()) == pytest.approx(1.0)
