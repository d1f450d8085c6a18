"""Module and Parameter: the containers a network is built from.

A Module owns Parameters (tensors an optimizer updates), Buffers (tensors it keeps but does
not train) and child Modules, found by assigning them as attributes:

    class Neuron(Module):
        def __init__(self):
            super().__init__()
            self.weight = Parameter(ms.randn(1, 2))   # registered as "weight"

Everything else follows from that registry: parameters(), state_dict() with dotted names
("layers.0.weight"), train()/eval() for every child, to() for every tensor.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .. import autograd, errors
from ..autograd import RemovableHandle
from ..tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A tensor that is a learnable part of a Module (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        source = data.detach() if isinstance(data, Tensor) else data
        dtype = source.dtype if isinstance(source, Tensor) else None
        super().__init__(source, requires_grad=requires_grad, dtype=dtype,
                         device=source.device if isinstance(source, Tensor) else "cpu")

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model: subclasses set attributes and define forward()."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: the registered tensors and children.
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry, {})
            if name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """Keep a tensor that is saved in state_dict() and moved by to(), but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise errors.TypeError(f"register_buffer: '{name}' must be a Tensor or None, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def register_parameter(self, name, parameter):
        if parameter is not None and not isinstance(parameter, Parameter):
            raise errors.TypeError(f"register_parameter: '{name}' must be a Parameter or None")
        self.__dict__.pop(name, None)
        self._parameters[name] = parameter

    # --- running ----------------------------------------------------------------------------
    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *inputs, **kwargs):
        if self._backward_hooks:
            inputs = tuple(watched_input(t) for t in inputs)
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, inputs, output)
            if replaced is not None:
                output = replaced
        if self._backward_hooks and isinstance(output, Tensor) and output.requires_grad:
            BackwardHookCall(self, inputs, output)
        return output

    def register_forward_hook(self, hook):
        """Call hook(module, inputs, output) after every forward (a returned value replaces the
        output); e.g. to keep each layer's activations for a histogram. `.remove()` on the handle undoes it."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def train(self, mode=True):
        """Training mode (dropout active) for this module and every child; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def register_full_backward_hook(self, hook):
        """Call hook(module, grad_input, grad_output) once backward has computed the gradients of
        this module's inputs (None for inputs that need none) from the gradient of its output."""
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    # --- walking the tree ---------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_children(self):
        return ((name, child) for name, child in self._modules.items() if child is not None)

    def children(self):
        return (child for _, child in self.named_children())

    def _named_tensors(self, registry):
        seen = set()
        for prefix, module in self.named_modules():
            for name, tensor in getattr(module, registry).items():
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))   # a tensor shared by two layers is listed once
                yield (f"{prefix}.{name}" if prefix else name), tensor

    def named_parameters(self):
        return self._named_tensors("_parameters")

    def parameters(self):
        return (parameter for _, parameter in self.named_parameters())

    def named_buffers(self):
        return self._named_tensors("_buffers")

    def buffers(self):
        return (buffer for _, buffer in self.named_buffers())

    def zero_grad(self, set_to_none=True):
        for parameter in self.parameters():
            if set_to_none or parameter.grad is None:
                parameter.grad = None
            else:
                parameter.grad.backend.copy_into(parameter.grad.data, 0)

    # --- moving ----------------------------------------------------------------------------
    def to(self, target):
        """Move every parameter and buffer to a device ("cpu", "cuda") or a float dtype, in place.

        The Parameter objects stay the same, so an optimizer built before still holds them.
        """
        for tensor in (*self.parameters(), *self.buffers()):
            if target not in ("cpu", "cuda") and tensor.dtype.kind != "f":
                continue   # dtype changes apply to float tensors only, as in PyTorch
            moved = tensor.detach().to(target)
            tensor.data, tensor.backend = moved.data, moved.backend
            if tensor.grad is not None:
                grad = tensor.grad.to(target)
                tensor.grad = Tensor._make(grad.data, grad.device, None)
        return self

    def float(self):
        return self.to("float32")

    def double(self):
        return self.to("float64")

    # --- saving and loading ------------------------------------------------------------
    def state_dict(self):
        """Every parameter and buffer by dotted name, as detached tensors sharing memory."""
        state = OrderedDict()
        for name, tensor in (*self._state_items("_parameters"), *self._state_items("_buffers")):
            state[name] = tensor.detach()
        return state

    def _state_items(self, registry):
        for prefix, module in self.named_modules():
            for name, tensor in getattr(module, registry).items():
                if tensor is not None:
                    yield (f"{prefix}.{name}" if prefix else name), tensor

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from `state_dict` (tensors or NumPy arrays) into this module's tensors.

        Every problem is reported at once: missing keys, unexpected keys and shape mismatches.
        With strict=False missing and unexpected keys are allowed (returned), wrong shapes never.
        """
        state_dict = dict(state_dict)
        for prefix, module in self.named_modules():
            state_dict = module.upgrade_state_dict(state_dict, f"{prefix}." if prefix else "")
        own = OrderedDict((*self._state_items("_parameters"), *self._state_items("_buffers")))
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        misshaped = []
        for name, tensor in own.items():
            if name in state_dict:
                shape = tuple(np.shape(getattr(state_dict[name], "data", state_dict[name])))
                if shape != tuple(tensor.shape):
                    misshaped.append(f"{name}: checkpoint has shape {shape}, the model has {tuple(tensor.shape)}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if misshaped:
            problems.append("shape mismatches: " + "; ".join(misshaped))
        if problems:
            raise errors.ValueError(f"load_state_dict for {type(self).__name__}: " + " | ".join(problems))
        for name, tensor in own.items():
            if name in state_dict:
                value = state_dict[name]
                value = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
                tensor.backend.copy_into(tensor.data, value)
                autograd.changed_in_place(tensor)
        return IncompatibleKeys(missing, unexpected)

    def upgrade_state_dict(self, state_dict, prefix):
        """A module whose parameters were renamed or reshaped between versions turns the old
        entries (under `prefix`) into the new ones here, so old checkpoints still load."""
        return state_dict

    # --- printing -----------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def watched_input(value):
    """An input that needs a gradient goes through a reshape to its own shape (a view), so the
    gradient reaching it is this module's contribution alone, even when the tensor is shared."""
    if isinstance(value, Tensor) and value.requires_grad:
        return value.reshape(value.shape)
    return value


class BackwardHookCall:
    """Collects one call's output gradient and input gradients, then runs the module's backward hooks."""

    def __init__(self, module, inputs, output):
        self.module, self.inputs = module, inputs
        self.grad_output = None
        self.grad_inputs = [None] * len(inputs)
        self.waiting = {i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad}
        output.register_hook(self.output_ready)
        for index in self.waiting:
            inputs[index].register_hook(lambda grad, index=index: self.input_ready(index, grad))

    def output_ready(self, grad):
        self.grad_output = grad
        if not self.waiting:   # no input needs a gradient: the output's is all there will be
            self.fire()

    def input_ready(self, index, grad):
        self.grad_inputs[index] = grad
        self.waiting.discard(index)
        if not self.waiting:
            self.fire()

    def fire(self):
        for hook in list(self.module._backward_hooks.values()):
            hook(self.module, tuple(self.grad_inputs), (self.grad_output,))
