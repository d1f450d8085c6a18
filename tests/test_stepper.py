"""`minisora step`: the default walk through the neuron y = ReLU(w.x + b) and one SGD step."""
from minisora.cli import main


def run(capsys, script):
    assert main(["step", "--script", script]) == 0
    return capsys.readouterr().out


def test_the_default_network_forward_backward_and_one_sgd_step(capsys):
    out = run(capsys, "n; n; n; n")
    assert "[1] forward  linear     y = x @ W^T + b" in out
    assert "    w              [[2., 3.]]" in out and "    x              [[1., 0.]]" in out
    assert "[2] forward  relu" in out and "    linear[1]      [[2.]]" in out   # relu's input is call [1]'s output
    assert "[4] backward linear" in out and "    dL/d w         [[1., 0.]]" in out and "    dL/d b         [1.]" in out
    assert "y = 2." in out
    assert "= [[1.9, 3.0]]" in out and "= [-0.1]" in out   # w = 2 - 0.1 * 1 = 1.9; b = 0 - 0.1 = -0.1


def test_k_shows_the_loop_that_ran_and_q_quits(capsys):
    out = run(capsys, "n k q")
    assert "def relu_forward_kernel(x, y):" in out   # what relu's forward ran, and only that
    assert "def relu_backward_kernel" not in out and "float32" not in out
    assert out.rstrip().endswith("quit") and "[3]" not in out
    out = run(capsys, "k q")
    assert "linear's forward ran no loop of its own: it called BLAS" in out


def test_k_in_backward_shows_the_backward_loop(capsys):
    out = run(capsys, "n n k q")
    assert "[3] backward relu" in out and "def relu_backward_kernel(x, y, grad_y, grad_x):" in out
    assert "def relu_forward_kernel" not in out


def test_c_runs_to_the_end_without_stopping(capsys):
    out = run(capsys, "c")
    assert out.count("quit) > ") == 1 and "[4] backward linear" in out


def test_d_replays_the_kernel_as_python_under_pdb(capsys):
    out = run(capsys, "n; d; p float(x[0]), y.size; c; c")
    assert "relu_forward_kernel()" in out and "(2.0, 1)" in out   # stopped inside relu's loop: x = w.x + b = 2
    assert "stopping in relu_forward_kernel" in out and "require_float" not in out


def test_a_particle_with_several_results_shows_each(capsys):
    # split's results are output1, output2, ...: later calls name them [1].1, [1].2; in backward
    # each result's gradient shows, "none" for a result nothing used
    import numpy as np

    import minisora as ms
    from minisora import autograd
    from minisora.inspect.stepper import Stepper

    x = ms.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    stepper = Stepper({id(x): "x"}, "c")
    autograd.observers.append(stepper)
    try:
        a, b, _ = x.split(1, dim=1)
        (a * b).sum().backward()
    finally:
        autograd.observers.remove(stepper)
    out = capsys.readouterr().out
    assert "[1] forward  split" in out and "    output3        [[2.],\n                    [5.]]" in out
    assert "[2] forward  mul" in out and "    split[1].1     [[0.]," in out and "    split[1].2     [[1.]," in out
    assert "    dL/d out3      (none: unused)" in out and "    dL/d x         [[1., 0., 0.],\n                    [4., 3., 0.]]" in out


def test_q_in_pdb_ends_the_replay_not_the_walk(capsys):
    out = run(capsys, "n; d; q; c")
    assert "relu_forward_kernel()" in out and "y = 2." in out
