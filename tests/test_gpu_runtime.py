"""The optional GPU runtime layer (backends/gpu_runtime/). Its caching allocator (memory_pool.py):
freed GPU memory is reused, never while anything still holds it, and given back on
ms.cuda.empty_cache() or when the driver runs out. Its version guard: on a numba.cuda it was not
tested with, one warning, and the public path gives the same numbers.

Runs on the simulator, which pools its memory the same way (and on a GPU with MINISORA_TEST_GPU=1).
Oracle: the memory's own address, and values written before against values read after.
"""
import gc
import os
import warnings

import numpy as np
import pytest

import minisora as ms
from minisora.backends import gpu
from minisora.backends import gpu_runtime
from minisora.backends.gpu_runtime import memory_pool

REAL_GPU = os.environ.get("MINISORA_TEST_GPU") == "1"

pytestmark = pytest.mark.skipif(not ms.cuda.is_available(), reason=ms.cuda.why_not() or "cuda available")


def address(tensor):
    """Where the tensor's memory starts (on the simulator, the NumPy bytes standing in for it)."""
    memory = tensor.data.base
    if gpu.simulated():
        return memory._ary.__array_interface__["data"][0]
    return memory.device_ctypes_pointer.value


def fresh(n, dtype=np.float32):
    return ms.zeros((n,), dtype=dtype, device="cuda")


def test_freed_memory_is_reused_by_the_next_array_of_its_rounded_size():
    first = fresh(100)            # 400 bytes: a 512-byte block
    where = address(first)
    del first
    gc.collect()
    again = fresh(120)            # 480 bytes: the same block size, so that block
    assert address(again) == where
    other = fresh(200)            # 800 bytes: a 1024-byte block, not that one
    assert address(other) != where


def test_an_array_is_exactly_as_long_as_asked_even_in_a_longer_block():
    assert memory_pool.allocate(3, np.dtype(np.float64)).size == 3
    assert memory_pool.allocate(0, np.dtype(np.float32)).size == 1   # numba has no empty device arrays


def test_memory_a_view_still_reads_is_not_handed_out_again():
    values = np.arange(100, dtype=np.float32)
    whole = ms.tensor(values, device="cuda")
    tail = whole[10:]            # shares whole's memory, and keeps it
    where = address(whole)
    del whole
    gc.collect()
    newcomer = ms.full((100,), 7.0, device="cuda")
    assert address(newcomer) != where
    np.testing.assert_array_equal(tail.numpy(), values[10:])


def test_values_computed_by_a_chain_of_short_lived_arrays_survive_reuse():
    # each intermediate is freed as soon as the next exists; its block is reused at once
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    t, expected = ms.tensor(x, device="cuda"), x
    for step in range(6):
        t = (t * 0.5 + float(step)).tanh()
        expected = np.tanh(expected * np.float32(0.5) + np.float32(step))
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not gpu.simulated(), reason="the simulator's fill; a GPU's new memory holds anything")
@pytest.mark.parametrize("dtype, unwritten", [(np.float32, np.nan), (np.float64, np.nan), (np.int64, -1)])
def test_the_simulator_hands_out_memory_filled_with_ff_bytes(dtype, unwritten):
    reused = fresh(50, dtype)
    del reused
    gc.collect()
    memory = memory_pool.allocate(50, np.dtype(dtype))
    np.testing.assert_array_equal(memory.copy_to_host(), np.full(50, unwritten, dtype))


def test_empty_cache_gives_the_pooled_memory_back():
    kept = fresh(1000)   # 4000 bytes: a 4096-byte block
    where = address(kept)
    dropped = fresh(3000)
    del dropped
    gc.collect()
    assert memory_pool.cached_bytes() >= 3000 * 4
    ms.cuda.empty_cache()
    assert memory_pool.cached_bytes() == 0
    del kept             # in use at the clearing: its memory comes into the pool once it is gone
    gc.collect()
    assert memory_pool.cached_bytes() >= 4096
    assert address(fresh(1000)) == where


def test_with_the_driver_out_of_memory_the_pool_gives_its_blocks_back_and_asks_again(monkeypatch):
    dropped = fresh(3000)
    del dropped
    gc.collect()
    assert memory_pool.cached_bytes()
    asked, driver_memory = [], memory_pool.driver_memory

    def full_until_the_pool_is_empty(nbytes):   # a driver whose memory the pool holds
        asked.append(memory_pool.cached_bytes())
        if memory_pool.cached_bytes():
            raise MemoryError("out of memory")
        return driver_memory(nbytes)

    monkeypatch.setattr(memory_pool, "driver_memory", full_until_the_pool_is_empty)
    values = np.arange(5000, dtype=np.float32)
    np.testing.assert_array_equal(ms.tensor(values, device="cuda").numpy(), values)
    assert asked[0] > 0 and asked[1:] == [0]


def test_memory_beyond_the_gpus_is_refused_with_its_size():
    expected = r"^cuda: out of GPU memory for an array of 1125899906842624 float32 \(4503599627370496 bytes"
    with pytest.raises(MemoryError, match=expected):
        ms.zeros((2**50,), dtype=np.float32, device="cuda")


def tiny_training_numbers():
    """Loss and every gradient of two AdamW steps of a small GPT on cuda (a fixed seed)."""
    ms.manual_seed(0)
    model = ms.models.GPT(11, 6, 8, 2, 1).to("cuda")
    optimizer = ms.optim.AdamW(model.parameters(), lr=1e-2)
    ids = ms.tensor(np.random.default_rng(0).integers(0, 11, (2, 6)), device="cuda")
    numbers = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = ms.F.cross_entropy(model(ids[:, :-1]).reshape(-1, 11), ids[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        numbers += [loss.numpy()] + [p.grad.numpy() for p in model.parameters()]
    return numbers


def test_an_untested_numba_cuda_gets_one_warning_and_the_public_path_with_the_same_numbers(monkeypatch):
    layered = tiny_training_numbers()
    gpu_runtime.enabled.cache_clear()
    monkeypatch.setattr(gpu_runtime, "provider", lambda: ("numba-cuda", "0.99.1"))
    allocations = []
    monkeypatch.setattr(memory_pool, "allocate", lambda *a: allocations.append(a))   # must not be reached
    try:
        with pytest.warns(RuntimeWarning, match=r"numba-cuda 0.99.1 is not a version its GPU runtime layer was tested "
                                                r"with \(numba-cuda 0.30\): GPU launches and memory take numba.cuda's "
                                                r"public path") as warned:
            public = tiny_training_numbers()
        assert len(warned) == 1 and not allocations
    finally:
        gpu_runtime.enabled.cache_clear()
    assert len(public) == len(layered)
    # The simulator runs threads one by one, so the two paths agree to the bit there. A real GPU adds
    # the loss and the embedding's gradient with float atomics in whatever order its threads arrive:
    # two runs of the same path differ in the last bits, so there they agree to float32's precision.
    tolerance = 1e-5 if REAL_GPU else 0
    for a, b in zip(layered, public):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def test_the_tested_versions_run_the_layer(monkeypatch):
    try:
        for version, expected in (("0.30.4", True), ("0.30", True), ("0.300.1", False), ("0.31.0", False)):
            gpu_runtime.enabled.cache_clear()
            monkeypatch.setattr(gpu_runtime, "provider", lambda: ("numba-cuda", version))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert gpu_runtime.enabled() is expected, version
    finally:
        gpu_runtime.enabled.cache_clear()
