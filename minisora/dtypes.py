"""The dtypes a tensor can have, and how data and plain numbers are typed without one (PyTorch's rules)."""
import numpy as np

from . import errors

# int8, uint8 and int32 hold quantized values (minisora.quant); arithmetic takes the first four
DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_, "int8": np.int8,
          "uint8": np.uint8, "int32": np.int32}


def as_dtype(dtype):
    """np.dtype from 'float32', np.float32, np.dtype(...); None stays None."""
    if dtype is None:
        return None
    name = getattr(dtype, "__name__", None) or str(np.dtype(dtype) if not isinstance(dtype, str) else dtype)
    if name not in DTYPES:
        raise errors.TypeError(f"unsupported dtype {dtype!r}: minisora tensors are float32, float64, int64, bool "
                               "or (quantized) int8, uint8, int32")
    return np.dtype(DTYPES[name])


def names_a_dtype(text):
    """Whether NumPy reads `text` as a dtype (minisora may still not support it)."""
    try:
        np.dtype(text)
    except TypeError:
        return False
    return True


def infer_dtype(data, array):
    """PyTorch's choice without a dtype: floats are float32 unless NumPy data was float64."""
    kind = array.dtype.kind
    if kind == "b":
        return np.dtype(np.bool_)
    if kind in "iu":
        if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
            raise errors.OverflowError(f"tensor: {int(array.max())} does not fit in int64 (the largest is "
                                       f"{np.iinfo(np.int64).max}); it would wrap around to a negative number")
        return np.dtype(np.int64)
    if kind == "f":
        from_numpy = isinstance(data, (np.ndarray, np.floating))
        return np.dtype(np.float64) if from_numpy and array.dtype == np.float64 else np.dtype(np.float32)
    raise errors.TypeError(f"cannot make a tensor from data of dtype {array.dtype}")


def scalar_dtype(*values):
    """The dtype PyTorch gives Python numbers on their own: bool if all are bools, float32 if any
    is a float, else int64."""
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.dtype(np.bool_)
    if any(isinstance(v, (float, np.floating)) for v in values):
        return np.dtype(np.float32)
    return np.dtype(np.int64)
