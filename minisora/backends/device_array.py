"""DeviceArray: an n-dimensional view of GPU memory, with NumPy's view rules.

numba.cuda's own device arrays can be sliced and reshaped but not transposed, broadcast or
viewed with arbitrary strides. A DeviceArray is the missing piece, and it is small:

    base      one flat numba.cuda device array: the memory (an allocation of ours, or another
              library's memory seen through __cuda_array_interface__)
    shape     as in NumPy
    strides   steps in *elements* (not bytes) per dim; 0 repeats an element (broadcasting)
    offset    where element [0, 0, ...] sits in base

Views (reshape where the strides allow it, as in NumPy; permute, slicing, broadcasting) only
compute new shape, strides and offset; no kernel runs. A DeviceArray is itself a kernel
argument: the kernel sees `kernel_view()`, a numba array over exactly these elements (a strided
one for a view that is not contiguous, read and written through its strides). On a real GPU the
launcher (gpu_runtime/launch_shortcut.py) hands the kernel that view's pointer, shape and strides, for a
contiguous array without building it; on the simulator, and at a kernel's first launch,
kernel_view() builds it.
"""
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import errors
from .layout import reshaped_strides


@functools.lru_cache(maxsize=4096)
def contiguous_strides(shape):
    """Element strides of a packed C-ordered array of `shape` (kept per shape: a training step
    asks for the same few hundred shapes at every step)."""
    if len(shape) == 1:
        return (1,)
    if len(shape) == 2:
        return (max(shape[1], 1), 1)
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class DeviceArray:
    __slots__ = ("base", "shape", "strides", "offset", "dtype", "size", "is_view", "_view", "_flat", "_contiguous",
                 "launch_parameters", "__weakref__")

    def __init__(self, base, shape, strides=None, offset=0, dtype=None):
        self.fill_in(base, tuple(map(int, shape)), None if strides is None else tuple(map(int, strides)),
                     int(offset), np.dtype(base.dtype) if dtype is None else dtype)

    def fill_in(self, base, shape, strides, offset, dtype, size=None):
        """Set every field (shape, strides: tuples of ints; strides None: contiguous). Views come
        here directly: a model step makes hundreds of them, so they skip __init__'s checks."""
        self.base, self.shape, self.offset, self.dtype = base, shape, offset, dtype
        self.strides = contiguous_strides(shape) if strides is None else strides
        self.size = math.prod(shape) if size is None else size
        self.is_view = False      # True for views of another DeviceArray (they share its memory)
        self._view = self._flat = None
        self._contiguous = True if strides is None else None
        self.launch_parameters = None   # what the launch shortcut passes for this array, once worked out

    # --- what it is ------------------------------------------------------------------------
    @property
    def known_range(self):
        """(min, max) of the integers in this array's memory, when known without reading the GPU
        (they were copied from the host). It belongs to the memory, so every view of it has it
        too (a view's numbers lie within it), and a write into any view forgets it."""
        return getattr(self.base, "minisora_range", None)

    @known_range.setter
    def known_range(self, value):
        self.base.minisora_range = value

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def is_contiguous(self):
        """True when the elements lie in one C-ordered block (size-1 dims may have any stride)."""
        if self._contiguous is None:
            expected, self._contiguous = 1, True
            for n, s in zip(reversed(self.shape), reversed(self.strides)):
                if n != 1 and s != expected:
                    self._contiguous = False
                    break
                expected *= n
        return self._contiguous

    def __len__(self):
        if not self.shape:
            raise errors.TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self):
        return f"DeviceArray({self.dtype}[{', '.join(map(str, self.shape))}], cuda)"

    def __array__(self, *args, **kwargs):
        raise errors.TypeError(
            f"{self!r} lives in GPU memory: NumPy cannot read it directly; use tensor.numpy() "
            "or tensor.to('cpu'), which copy it to the host"
        )

    # --- what kernels get ------------------------------------------------------------------
    def kernel_view(self):
        """A numba.cuda array of exactly these elements, shape and strides included. A 0-d array
        is seen as one element, an empty one as a 1-d array of none (kernel_shape)."""
        view = self._view
        if view is None:
            if self.size and not self.is_contiguous:
                view = self.strided_view()
            else:
                if self.offset == 0 and self.size == self.base.size:
                    view = self.base
                else:
                    view = self.base[self.offset:self.offset + self.size]
                shape = self.kernel_shape()
                if len(shape) > 1:
                    view = view.reshape(shape)
            self._view = view
        return view

    def strided_view(self):
        """numba.cuda's array for a view that is not contiguous (numba cannot make one by
        transposing or broadcasting its own): over the memory from its first element to its last."""
        span = 1 + sum((n - 1) * s for n, s in zip(self.shape, self.strides))
        piece = self.base[self.offset:self.offset + span]
        strides = tuple(s * self.itemsize for s in self.strides)
        from numba import config

        if config.ENABLE_CUDASIM:   # the simulator's device arrays wrap a NumPy array
            from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

            return FakeCUDAArray(as_strided(piece._ary, self.shape, strides))
        from numba.cuda.cudadrv.devicearray import DeviceNDArray

        return DeviceNDArray(self.shape, strides, self.dtype, gpu_data=piece.gpu_data)

    def kernel_shape(self):
        """The shape of kernel_view()."""
        if self.size == 0:
            return (0,)
        return self.shape if self.shape else (1,)

    def storage(self, span):
        """The flat memory from this array's first element on, `span` elements long: a 1-d view
        (for kernels that walk it by strides of their own)."""
        if span == self.size and self.is_contiguous:
            return self.flat()
        return self.view_as((span,), (1,))

    def flat(self):
        """This contiguous array as 1-d (itself when it is), made once: kernels and the optimizers
        ask for it at every step."""
        if self.ndim == 1:
            return self
        if self._flat is None:
            self._flat = self.reshape((self.size,))
        return self._flat

    # --- views -----------------------------------------------------------------------------
    def view_as(self, shape, strides, offset=None, size=None):
        """A view of the same memory (shape, strides: tuples of ints; size: when already known)."""
        view = object.__new__(DeviceArray)
        view.fill_in(self.base, shape, strides, self.offset if offset is None else offset, self.dtype, size)
        view.is_view = True
        return view

    def reshape(self, shape):
        shape = (int(shape),) if isinstance(shape, int) else tuple(map(int, shape))
        if -1 in shape:
            known = math.prod(n for n in shape if n != -1)
            shape = tuple(self.size // known if n == -1 and known else n for n in shape)
        if math.prod(shape) != self.size:
            raise errors.ShapeError(f"cannot reshape {self!r} ({self.size} elements) to {shape}")
        if self.is_contiguous:
            return self.view_as(shape, None, size=self.size)
        strides = reshaped_strides(self.shape, self.strides, shape)
        if strides is None:
            raise errors.ValueError(f"{self!r} with strides {self.strides} cannot be seen as {shape}: "
                                    "reshape needs a packed copy")
        return self.view_as(shape, strides, size=self.size)

    def transpose(self, axes):
        shape, strides = self.shape, self.strides
        return self.view_as(tuple([shape[a] for a in axes]), tuple([strides[a] for a in axes]), size=self.size)

    def __getitem__(self, index):
        """Basic indexing (ints, slices, None, ...) as a view, with NumPy's rules for the arithmetic."""
        view = self.sliced(index)
        return view if view is not None else self.probed(index)

    def sliced(self, index):
        """The view for the common index, an int or a slice (step > 0) per leading dim, worked
        out directly; None for any other index (and for an int out of range: `probed` says so)."""
        index = index if type(index) is tuple else (index,)
        if len(index) > len(self.shape):
            return None
        shape, strides, offset = [], [], self.offset
        for item, n, stride in zip(index, self.shape, self.strides):
            if type(item) is int:
                if not -n <= item < n:
                    return None
                offset += (item % n) * stride
            elif type(item) is slice:
                start, stop, step = item.indices(n)
                if step <= 0:
                    return None
                shape.append(len(range(start, stop, step)))
                strides.append(stride * step)
                offset += start * stride if shape[-1] else 0
            else:
                return None
        rest = len(index)
        return self.view_as(tuple(shape) + self.shape[rest:], tuple(strides) + self.strides[rest:], offset)

    def probed(self, index):
        """Any basic index, by asking NumPy to apply it to a stand-in of this shape and strides."""
        item = self.itemsize
        probe = as_strided(np.zeros(1, self.dtype), self.shape, tuple(s * item for s in self.strides))
        try:
            picked = probe[index]
        except IndexError as error:
            raise errors.IndexError(f"{error} (indexing {self!r} with {index!r})") from None
        if not isinstance(picked, np.ndarray):   # all ints: NumPy gave a number; ask for a 0-d view
            picked = probe[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        if any(s < 0 for s in picked.strides):
            raise errors.IndexError(f"negative slice steps are not supported on cuda (indexing {self!r} with {index!r})")
        moved = (picked.__array_interface__["data"][0] - probe.__array_interface__["data"][0]) // item
        return self.view_as(picked.shape, tuple(s // item for s in picked.strides), self.offset + moved)

    def __setitem__(self, index, value):
        from . import cuda as backend

        backend.copy_into(self[index], value)

    # --- sharing with other GPU libraries -------------------------------------------------
    @property
    def __cuda_array_interface__(self):
        """CUDA Array Interface v3: CuPy, PyTorch, JAX and Numba read this memory without a copy.
        (They may also write it: the memory forgets its known range.)"""
        self.known_range = None
        pointer = self.base.__cuda_array_interface__["data"][0] + self.offset * self.itemsize
        return {
            "shape": self.shape,
            "strides": None if self.is_contiguous else tuple(s * self.itemsize for s in self.strides),
            "typestr": self.dtype.str,
            "data": (pointer, False),
            "version": 3,
        }
