import os

import pytest

# The cuda backend's tests run on Numba's CUDA simulator unless MINISORA_TEST_GPU=1 asks for the
# real GPU (then `pytest -m gpu` runs the same tests at larger sizes). Set before minisora is
# imported: numba reads it once.
REAL_GPU = os.environ.get("MINISORA_TEST_GPU") == "1"
if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

from hypothesis import HealthCheck, settings

# First calls compile kernels, so no deadline; few examples keep CI fast. MINISORA_EXAMPLES=200 digs deeper.
settings.register_profile(
    "minisora",
    max_examples=int(os.environ.get("MINISORA_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("minisora")


def pytest_configure(config):
    # A kernel whose inlined scalar math trips Numba's IR checks fails its test when it compiles.
    # (Here, not in pyproject.toml: resolving the class imports numba, which must come after
    # NUMBA_ENABLE_CUDASIM is set above.)
    config.addinivalue_line("filterwarnings", "error::numba.core.errors.NumbaIRAssumptionWarning")


def pytest_collection_modifyitems(config, items):
    if REAL_GPU:
        return
    skip = pytest.mark.skip(reason="needs a real GPU: MINISORA_TEST_GPU=1 python -m pytest -m gpu")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
