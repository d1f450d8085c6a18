"""ms.save / ms.load: checkpoints as one safetensors file, arrays in its body, the rest as JSON.

    save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "run/ckpt.safetensors")

Every array (a Tensor or a NumPy array) anywhere in the object is stored as a safetensors
tensor named by its path ("model/layers.0.weight"); everything else (dicts, lists, numbers,
strings, None) goes into the file's metadata as JSON, with a placeholder where each array was.
Nothing is pickled, so loading a file never runs code. Saving writes a temporary file in the
same folder and renames it over the target: a crash mid-save leaves the old checkpoint whole.

The metadata also holds a SHA-256 digest of the structure and of every array (name, dtype, shape,
bytes): a flipped bit anywhere is caught at load. Whatever a damaged file breaks, the only error
that leaves `load` is CheckpointError (a ValueError), saying which file.
"""
import hashlib
import json
import os
import struct
import tempfile

import numpy as np

from . import errors
from .tensor import Tensor

FORMAT = "minisora-checkpoint"
VERSION = 2   # 2: the SHA-256 of structure and arrays is required (1: written before it, or with it)


class CheckpointError(errors.ValueError):
    """The file is not a minisora checkpoint, or it is corrupt or truncated."""


def _encode(value, path, arrays):
    """JSON-able structure with arrays moved into `arrays` (name -> contiguous ndarray)."""
    if isinstance(value, (Tensor, np.ndarray)):
        name = path or "value"
        if name in arrays:
            raise errors.ValueError(f"save: two arrays would be stored under the name {name!r}")
        array = value.numpy() if isinstance(value, Tensor) else value
        arrays[name] = np.asarray(array, order="C")   # (np.ascontiguousarray would make a 0-d array 1-d)
        return {"__array__": name, "tensor": isinstance(value, Tensor)}
    if isinstance(value, dict):
        items = [[_encode(k, None, arrays) if not isinstance(k, str) else k,
                  _encode(v, f"{path}/{k}" if path else str(k), arrays)] for k, v in value.items()]
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: v for k, v in items}
        return {"__items__": items}   # non-string keys (an optimizer's parameter indices) stay as they were
    if isinstance(value, (list, tuple)):
        encoded = [_encode(v, f"{path}/{i}" if path else str(i), arrays) for i, v in enumerate(value)]
        return {"__tuple__": encoded} if isinstance(value, tuple) else encoded
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise errors.TypeError(f"save: cannot store a {type(value).__name__} at '{path}'; "
                           "checkpoints hold tensors, arrays, dicts, lists, numbers, strings and None")


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        array = arrays[value["__array__"]]
        return Tensor(array, dtype=array.dtype) if value["tensor"] else array
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__items__" in value:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__items__"]}
    return {k: _decode(v, arrays) for k, v in value.items()}


def save(obj, path):
    """Write `obj` to `path` atomically (temporary file in the same folder, then rename)."""
    from safetensors.numpy import save as safetensors_bytes

    arrays = {}
    structure = json.dumps(_encode(obj, "", arrays))
    body = safetensors_bytes(arrays, metadata={"format": FORMAT, "version": str(VERSION), "structure": structure,
                                               "sha256": _digest(structure, arrays)})
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o666 & ~_umask())   # mkstemp makes it private; give it a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def _digest(structure, arrays):
    """SHA-256 of the structure's JSON and of every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256(structure.encode())
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(f"\n{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def _header(raw, path):
    """The safetensors JSON header, checked against the file's length before any array is read."""
    if len(raw) < 8:
        raise CheckpointError(f"load: {path} is truncated ({len(raw)} bytes; a checkpoint starts with 8)")
    (size,) = struct.unpack("<Q", raw[:8])
    if size > len(raw) - 8:
        raise CheckpointError(f"load: {path} is truncated or not a checkpoint "
                              f"(its header claims {size} bytes, the file has {len(raw) - 8} after the length)")
    try:
        header = json.loads(raw[8:8 + size])
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"load: {path} is corrupt (its header is not valid JSON)") from None
    end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    if 8 + size + end != len(raw):
        raise CheckpointError(f"load: {path} is truncated or corrupt: the header describes {end} bytes of arrays, "
                              f"the file holds {len(raw) - 8 - size}")
    return header


def load(path):
    """Read a checkpoint written by `save`; never unpickles. Arrays saved as Tensors come back as Tensors."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path} is a folder; pass the checkpoint file inside it")
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return _parse(raw, path)
    except CheckpointError:
        raise
    except Exception as error:   # whatever a damaged header breaks (a missing key, a wrong type, deep nesting)
        raise CheckpointError(f"load: {path} is corrupt ({type(error).__name__}: {error})") from None


def load_safetensors(path):
    """{name: Tensor} from a plain safetensors file of named arrays, such as a PyTorch model's
    state dict written by safetensors.torch.save_file: model.load_state_dict(ms.load_safetensors(path)).
    Never unpickles; a damaged file raises CheckpointError."""
    from safetensors.numpy import load as safetensors_arrays

    with open(path, "rb") as handle:
        raw = handle.read()
    _header(raw, path)
    try:
        arrays = safetensors_arrays(raw)
    except Exception as error:
        raise CheckpointError(f"load_safetensors: {path} is corrupt ({type(error).__name__}: {error})") from None
    return {name: Tensor(array) for name, array in arrays.items()}


def _parse(raw, path):
    from safetensors.numpy import load as safetensors_arrays

    metadata = _header(raw, path).get("__metadata__") or {}
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"load: {path} is a safetensors file but not a minisora checkpoint "
                              "(no minisora structure in its metadata); a plain file of named arrays (such as "
                              "PyTorch's safetensors.torch.save_file(model.state_dict())) reads with ms.load_safetensors")
    version = int(metadata.get("version", 0))
    if version > VERSION:
        raise CheckpointError(f"load: {path} was written by a newer minisora (format {metadata['version']})")
    if version >= 2 and "sha256" not in metadata:   # (a damaged key must not turn the check off)
        raise CheckpointError(f"load: {path} is corrupt: the checksum saved with its contents is missing")
    arrays = safetensors_arrays(raw)
    structure = metadata["structure"]
    if "sha256" in metadata and _digest(structure, arrays) != metadata["sha256"]:   # (format 1 files may have none)
        raise CheckpointError(f"load: {path} is corrupt: its contents do not match the checksum saved with them")
    return _decode(json.loads(structure), arrays)
