"""Optimizer: parameter groups, per-parameter state, and saving both.

Each optimizer (sgd.py, adam.py, ...) writes its update rule once as a kernel that reads a
parameter, its gradient and its state in one pass over memory and updates them in place.
This base class only does the bookkeeping around it, as PyTorch's does:

    param_groups   [{"params": [...], "lr": ..., ...}]   hyper-parameters per group
    state          {parameter: {"step": n, "exp_avg": array, ...}}   (arrays on the parameter's device)
    step()         for every parameter with a gradient: run the update kernel

One kernel call can update many parameters (on a GPU, one launch instead of one per parameter):
it gets the arrays of `backend.tensors_per_call` parameters as tuples, the parameters
themselves, their gradients and each piece of their state, and loops over the first `count`.
Every call's tuples have that length (unused places repeat the last parameter), so one compiled
kernel serves every model.
"""
import copy

import numpy as np

from .. import autograd, errors
from ..tensor import Tensor


def padded(arrays, backend):
    """The arrays of one kernel call as a tuple of backend.tensors_per_call: unused places repeat the last."""
    arrays = tuple(arrays)
    return arrays + arrays[-1:] * (backend.tensors_per_call - len(arrays))


def in_calls(items, key):
    """Split items into the runs one kernel call takes: items sharing key(item) = (backend, ...),
    at most backend.tensors_per_call of them."""
    groups = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return [group[start:start + backend.tensors_per_call] for (backend, *_), group in groups.items()
            for start in range(0, len(group), backend.tensors_per_call)]


SCHEDULER_KEYS = {"initial_lr"}   # what a learning-rate scheduler adds to a group, as PyTorch's do


def same_kind(value, default):
    """Whether a hyper-parameter has its default's kind: a real number, a flag, a tuple of numbers."""
    if isinstance(default, bool):
        return isinstance(value, (bool, np.bool_))
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if isinstance(default, tuple):
        return (isinstance(value, (tuple, list)) and len(value) == len(default)
                and all(same_kind(v, d) for v, d in zip(value, default)))
    return True


def kind_of(default):
    if isinstance(default, bool):
        return "True or False"
    if isinstance(default, tuple):
        return f"a tuple of {len(default)} numbers"
    return "a number"


class Optimizer:
    defaults = {}

    def __init__(self, params, **hyper):
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise errors.TypeError(f"{type(self).__name__}: unknown arguments {sorted(unknown)}")
        self.check(hyper)
        params = list(params)
        if not params:
            raise errors.ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups, self.state = [], {}
        for group in groups:
            self.add_param_group({**self.defaults, **hyper, **group})

    def add_param_group(self, group):
        group = dict(group)
        group["params"] = list(group["params"])
        self.check(group)
        for parameter in group["params"]:
            if not isinstance(parameter, Tensor) or not parameter.requires_grad or not parameter.is_leaf:
                raise errors.TypeError(f"{type(self).__name__}: can only optimize leaf tensors that require grad, "
                                       f"got {type(parameter).__name__}")
            if any(parameter is seen for g in self.param_groups for seen in g["params"]):
                raise errors.ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        if len({id(p) for p in group["params"]}) != len(group["params"]):   # it would be updated twice a step
            raise errors.ValueError(f"{type(self).__name__}: a parameter appears twice in one group")
        self.param_groups.append(group)

    def check(self, hyper):
        """Raise TypeError for a hyper-parameter of the wrong kind (a string lr) and ValueError for
        one outside its range (each optimizer adds its own ranges)."""
        for name, default in self.defaults.items():
            if name in hyper and not same_kind(hyper[name], default):
                raise errors.TypeError(f"{type(self).__name__}: {name} must be {kind_of(default)}, got {hyper[name]!r}")
        if "lr" in hyper and not hyper["lr"] >= 0:
            raise errors.ValueError(f"{type(self).__name__}: invalid learning rate {hyper['lr']!r}")

    def require_non_negative(self, hyper, *names):
        for name in names:
            if name in hyper and not hyper[name] >= 0:
                raise errors.ValueError(f"{type(self).__name__}: invalid {name} {hyper[name]!r} (must be >= 0)")

    @staticmethod
    def zeros(parameter):
        """A state array shaped like the parameter, on its device, starting at 0."""
        return parameter.backend.zeros(parameter.shape, parameter.dtype)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for parameter in group["params"]:
                if set_to_none or parameter.grad is None:
                    parameter.grad = None
                else:
                    parameter.grad.backend.copy_into(parameter.grad.data, 0)

    def step(self):
        """One update of every parameter that has a gradient, in batches that share a device, a
        dtype and a step count (the numbers one kernel call applies to all of its parameters)."""
        for group in self.param_groups:
            batch = []
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                grad = parameter.grad.data
                if grad.dtype != parameter.dtype or grad.shape != parameter.shape:
                    raise errors.ValueError(f"{type(self).__name__}: gradient {grad.dtype}{list(grad.shape)} does not match "
                                            f"its parameter {parameter.dtype}{list(parameter.shape)}")
                if not parameter.backend.is_contiguous(parameter.data):
                    raise errors.ValueError(f"{type(self).__name__}: parameter {parameter.dtype}{list(parameter.shape)} is not "
                                            "contiguous in memory; the update kernels write through a flat view of it")
                if not getattr(getattr(parameter.data, "flags", None), "writeable", True):
                    raise errors.ValueError(f"{type(self).__name__}: parameter {parameter.dtype}{list(parameter.shape)} "
                                            "is a read-only NumPy array (ms.as_tensor shares an array's memory, "
                                            "flags and all); make a writable copy with ms.tensor(array)")
                state = self.state.get(parameter)
                if state is None:
                    state = self.state[parameter] = self.initial_state(parameter, group)
                batch.append((parameter, parameter.backend.contiguous(grad), state))
            for call in in_calls(batch, lambda item: (item[0].backend, item[0].dtype, item[2]["step"])):
                self.update(call, group)
            for parameter, _, _ in batch:
                autograd.changed_in_place(parameter)   # a graph that saved it can no longer go backward

    @staticmethod
    def arrays(batch, *names):
        """For each name, a tuple (see padded) of the 1-D views an update kernel loops over, one
        per (parameter, grad, state) of the batch: "param" the parameter, "grad" its gradient, any
        other name that piece of its state (None, state this setting never uses: an empty array)."""
        parameter = batch[0][0]
        backend = parameter.backend
        unused = None
        columns = []
        for name in names:
            column = []
            for p, grad, state in batch:
                array = p.data if name == "param" else grad if name == "grad" else state[name]
                if array is None and unused is None:   # made only when a setting leaves state unused
                    unused = backend.empty((0,), parameter.dtype)
                column.append(unused if array is None else backend.flat(array))
            columns.append(padded(column, backend))
        return columns

    def initial_state(self, parameter, group):
        return {"step": 0}

    def update(self, batch, group):
        """Update a batch of (parameter, grad, state) sharing device, dtype and step: one kernel call."""
        raise NotImplementedError

    # --- saving -------------------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {name: array or number}}, "param_groups": [... "params": [indices]]}."""
        index_of, groups = {}, []
        for group in self.param_groups:
            indices = []
            for parameter in group["params"]:
                index_of[id(parameter)] = len(index_of)
                indices.append(index_of[id(parameter)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
        state = {}
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter in self.state:
                    backend = parameter.backend
                    state[index_of[id(parameter)]] = {
                        name: (backend.to_numpy(value).copy() if backend.is_array(value) else value)
                        for name, value in self.state[parameter].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state saved by state_dict() into an optimizer over the same parameters. Everything
        is checked before anything changes: the groups and their hyper-parameters (names, kinds,
        ranges: another optimizer's state is refused), and each parameter's state (its names, its
        step, its arrays' shapes)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise errors.ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' (what "
                                    f"state_dict() returns), got {type(state_dict).__name__}"
                                    + (f" with keys {sorted(map(str, state_dict))}" if isinstance(state_dict, dict) else ""))
        saved_groups = state_dict["param_groups"]
        for index, saved in enumerate(saved_groups):
            hyper = {k: v for k, v in saved.items() if k != "params"}
            if set(self.defaults) - set(hyper) or set(hyper) - set(self.defaults) - SCHEDULER_KEYS:
                raise errors.ValueError(f"{name}.load_state_dict: group {index} holds the settings {sorted(hyper)}, a "
                                        f"{name} has {sorted(self.defaults)} (is this another optimizer's state?)")
            self.check(hyper)
        if len(saved_groups) != len(self.param_groups):
            raise errors.ValueError(f"{name}.load_state_dict: the checkpoint has {len(saved_groups)} parameter groups, "
                                    f"this optimizer has {len(self.param_groups)}")
        parameters = []
        for index, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise errors.ValueError(f"{name}.load_state_dict: group {index} has {len(saved['params'])} parameters "
                                        f"in the checkpoint, {len(group['params'])} here")
            parameters.extend((index, (parameter, saved)) for index, parameter in zip(saved["params"], group["params"]))
        by_index = dict(parameters)
        new_state = {}
        for key, values in state_dict["state"].items():
            if int(key) not in by_index:
                raise errors.ValueError(f"{name}.load_state_dict: state for parameter {key}, which no group has")
            parameter, saved_group = by_index[int(key)]
            expected = set(self.initial_state(parameter, saved_group))   # (which state a setting keeps: momentum's)
            if set(values) != expected:
                raise errors.ValueError(f"{name}.load_state_dict: state of parameter {key} holds {sorted(values)}, a "
                                        f"{name} keeps {sorted(expected)}")
            if not isinstance(values["step"], (int, np.integer)) or values["step"] < 0:
                raise errors.ValueError(f"{name}.load_state_dict: step of parameter {key} must be a count >= 0, "
                                        f"got {values['step']!r}")
            new_state[parameter] = {}
            for field, value in values.items():
                if isinstance(value, (np.ndarray, Tensor)):
                    array = value.numpy() if isinstance(value, Tensor) else value
                    if array.shape != tuple(parameter.shape):
                        raise errors.ValueError(f"{name}.load_state_dict: state '{field}' of parameter {key} has shape "
                                                f"{array.shape}, the parameter has {tuple(parameter.shape)}")
                    value = parameter.backend.asarray(array, parameter.dtype)
                new_state[parameter][field] = value
        for saved, group in zip(saved_groups, self.param_groups):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines + [")"])
