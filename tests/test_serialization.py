"""Checkpoints: round trips of nested state, atomic saving, and clear errors for bad files."""
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minisora as ms
from minisora.serialization import CheckpointError


def test_round_trip_keeps_structure_types_and_values(tmp_path):
    state = {
        "weights": {"layer.weight": ms.tensor([[1.0, 2.0]]), "layer.bias": ms.tensor([0.5], dtype="float64")},
        "counts": np.arange(4, dtype=np.int64), "flags": np.array([True, False]),
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones((1, 2), np.float32)}}, "betas": (0.9, 0.999)},
        "history": [{"epoch": 1, "loss": 0.25}], "name": "run", "none": None, "big": 2**100,
        "empty": np.zeros((0, 3), np.float32), "scalar": ms.tensor(2.5), "scalar_array": np.array(7, np.int64),
        "transposed": np.arange(6.0).reshape(2, 3).T,
    }
    path = ms.save(state, str(tmp_path / "state.safetensors"))
    loaded = ms.load(path)
    weight = loaded["weights"]["layer.weight"]
    assert isinstance(weight, ms.Tensor) and weight.dtype == np.float32 and weight.tolist() == [[1.0, 2.0]]
    assert loaded["weights"]["layer.bias"].dtype == np.float64
    assert isinstance(loaded["counts"], np.ndarray) and loaded["counts"].tolist() == [0, 1, 2, 3]
    assert loaded["flags"].dtype == np.bool_
    assert loaded["optimizer"]["state"][0]["step"] == 3 and loaded["optimizer"]["betas"] == (0.9, 0.999)
    assert loaded["history"] == state["history"] and loaded["name"] == "run" and loaded["none"] is None
    assert loaded["big"] == 2**100 and loaded["empty"].shape == (0, 3)
    # 0-d arrays stay 0-d (a learnable scalar must load back into its parameter), views keep their values
    assert loaded["scalar"].shape == () and loaded["scalar"].item() == 2.5
    assert loaded["scalar_array"].shape == () and loaded["scalar_array"] == 7
    assert loaded["transposed"].tolist() == state["transposed"].tolist()


def test_a_model_and_optimizer_checkpoint_restores_them(tmp_path):
    model = ms.nn.Sequential(ms.nn.Linear(3, 2))
    ms.save({"model": model.state_dict()}, str(tmp_path / "m.safetensors"))
    other = ms.nn.Sequential(ms.nn.Linear(3, 2))
    other.load_state_dict(ms.load(str(tmp_path / "m.safetensors"))["model"])
    np.testing.assert_array_equal(other[0].weight.numpy(), model[0].weight.numpy())


def test_truncated_and_corrupt_files_are_reported(tmp_path):
    path = str(tmp_path / "good.safetensors")
    ms.save({"w": np.ones(100, np.float32), "epoch": 2}, path)
    raw = open(path, "rb").read()
    cases = {"cut-body": raw[:-17], "cut-header": raw[:40], "tiny": raw[:5], "empty": b""}
    for name, content in cases.items():
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(CheckpointError, match="truncated"):
            ms.load(str(broken))
    garbled = tmp_path / "garbled"
    garbled.write_bytes(raw[:8] + b"\xff" * (len(raw) - 8))
    with pytest.raises(CheckpointError, match="corrupt"):
        ms.load(str(garbled))


def test_loading_never_unpickles(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo should-never-run",))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError):
        ms.load(str(path))


def test_plain_safetensors_file_is_not_taken_for_a_checkpoint(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not a minisora checkpoint"):
        ms.load(str(tmp_path / "plain.safetensors"))


def test_saving_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt.safetensors")
    ms.save({"epoch": 1}, path)

    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        ms.save({"epoch": 2, "w": np.ones(1000)}, path)
    monkeypatch.undo()
    assert ms.load(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]   # no temporary file left behind


def test_unsavable_values_and_folders_give_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="save: cannot store a set at 'config/tags'"):
        ms.save({"config": {"tags": {"a"}}}, str(tmp_path / "x.safetensors"))
    assert not os.path.exists(tmp_path / "x.safetensors")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        ms.load(str(tmp_path))


STATE = {"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([0.5])},
         "optimizer": {"state": {0: {"step": 3}}, "lr": 0.01, "betas": (0.9, 0.999)}, "epoch": 7, "name": "run"}


def test_a_flipped_bit_anywhere_is_caught_by_the_checksum(tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    ms.save(STATE, path)
    raw = open(path, "rb").read()
    body_start = len(raw) - 6 * 4 - 8   # the last bytes are the arrays': a bit flipped there keeps the JSON valid
    epoch = raw.index(b"7", raw.index(b"epoch"))   # inside the structure's JSON (itself a string in the header)
    for position in (body_start, len(raw) - 1, epoch):
        broken = bytearray(raw)
        broken[position] ^= 0x01   # a value still well-formed: 7 -> 6, a float's last bit
        (tmp_path / "broken").write_bytes(bytes(broken))
        with pytest.raises(CheckpointError, match="checksum"):
            ms.load(str(tmp_path / "broken"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_only_checkpoint_errors_leave_load_whatever_the_damage(tmp_path, data):
    """Fuzz: flipped, overwritten, inserted and deleted bytes, in the header above all (where a parser
    meets keys, types and nesting it did not expect). load returns the saved state or raises
    CheckpointError, nothing else."""
    path = str(tmp_path / "ckpt.safetensors")
    ms.save(STATE, path)
    raw = bytearray(open(path, "rb").read())
    for _ in range(data.draw(st.integers(1, 3))):
        header_end = min(len(raw), 8 + 400)
        anywhere = data.draw(st.booleans())
        position = data.draw(st.integers(0, max((len(raw) if anywhere else header_end) - 1, 0)))
        kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        if kind == "flip" and raw:
            raw[position] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and raw:
            raw[position] = data.draw(st.sampled_from(b'{}[]":,0123456789-eE.tfn \\'))
        elif kind == "insert":
            raw[position:position] = data.draw(st.sampled_from([b"[", b"{", b'"a":1,', b"0", b'[[[[[[[[', b'"']))
        elif kind == "delete" and raw:
            del raw[position]
        elif kind == "cut":
            del raw[position:]
    (tmp_path / "mutant").write_bytes(bytes(raw))
    try:
        loaded = ms.load(str(tmp_path / "mutant"))
    except CheckpointError:
        return
    assert loaded["epoch"] == 7 and loaded["name"] == "run"
    np.testing.assert_array_equal(loaded["model"]["w"], STATE["model"]["w"])


def test_a_damaged_checksum_key_does_not_turn_the_check_off(tmp_path):
    """Format 2 requires the checksum: a file whose "sha256" key was damaged is refused (before, a
    damaged key turned the check off and damaged contents loaded); a format-1 file, written before
    checksums, still loads."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = str(tmp_path / "ckpt.safetensors")
    ms.save(STATE, path)
    raw = open(path, "rb").read()
    damaged = raw.replace(b'"sha256"', b'"sha257"')
    assert damaged != raw
    (tmp_path / "damaged").write_bytes(damaged)
    with pytest.raises(CheckpointError, match="checksum saved with its contents is missing"):
        ms.load(str(tmp_path / "damaged"))
    with safe_open(path, "numpy") as handle:
        metadata = dict(handle.metadata())
    del metadata["sha256"]
    save_file(load_file(path), str(tmp_path / "old"), metadata={**metadata, "version": "1"})
    assert ms.load(str(tmp_path / "old"))["epoch"] == 7


def test_a_deeply_nested_structure_is_a_checkpoint_error_not_a_recursion_error(tmp_path):
    from safetensors.numpy import save_file
    structure = "[" * 100_000 + "]" * 100_000
    save_file({"x": np.zeros(1)}, str(tmp_path / "deep"), metadata={"format": "minisora-checkpoint", "version": "1",
                                                                   "structure": structure})
    with pytest.raises(CheckpointError, match="corrupt"):
        ms.load(str(tmp_path / "deep"))
