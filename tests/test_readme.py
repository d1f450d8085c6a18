"""The README's first-look example runs, and the numbers its comments state are the ones it prints."""
import os
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_first_look_example_says_what_it_computes(capsys):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = re.search(r"## A first look\n\n```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    with pytest.raises(FloatingPointError, match="log"):   # its last line shows detect_anomaly stopping
        exec(block, namespace)
    assert namespace["y"].tolist() == [[2.0]] and namespace["w"].grad.tolist() == [[1.0, 0.0]]
    np.testing.assert_allclose(namespace["W"].grad.numpy(), [[-0.19, 0], [0.18, 0], [0.01, 0]], atol=0.006)
    assert np.abs(namespace["W"].grad.numpy()).sum() > 0.3   # a first look with gradients that are not all 0
    printed = capsys.readouterr().out
    assert "gradcheck PASSED" in printed and " cross_entropy " in printed and "* includes compiling" not in printed.split(
        "cross_entropy")[0]
