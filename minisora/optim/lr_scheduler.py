"""Learning-rate schedules: the lr of every parameter group as a function of the epoch e.

    StepLR             lr = lr0 gamma^floor(e / step_size)
    ExponentialLR      lr = lr0 gamma^e
    LinearLR           lr = lr0 (start + (end - start) min(e, total) / total)
    CosineAnnealingLR  lr = eta_min + (lr0 - eta_min) (1 + cos(pi e / T_max)) / 2
    WarmupLinearLR     lr = lr0 e / W                     for e < W   (warm-up: W steps from 0)
                       lr = lr0 max(0, (N - e) / (N - W))  after     (linear decay to 0 at step N)

Call `scheduler.step()` once per epoch, after `optimizer.step()` (WarmupLinearLR: once per
optimizer step, as BERT's fine-tuning does). Each schedule is written
in closed form (PyTorch computes the same values step by step from the previous lr).
"""
import math
from .. import errors


class LRScheduler:
    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {name: value for name, value in self.__dict__.items() if name != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if int(step_size) < 1:
            raise errors.ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class LinearLR(LRScheduler):
    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise errors.ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], "
                                    f"got {start_factor}, {end_factor}")
        if int(total_iters) < 1:
            raise errors.ValueError(f"LinearLR: total_iters must be a positive int, got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = float(start_factor), float(end_factor), int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if int(T_max) < 1:
            raise errors.ValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max!r}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class WarmupLinearLR(LRScheduler):
    """BERT's fine-tuning schedule (Hugging Face's get_linear_schedule_with_warmup): the first step
    runs at lr 0, the lr climbs linearly to lr0 over warmup_steps, then falls linearly to 0 at
    total_steps. Adam's first updates are its noisiest (its second moment has seen few gradients);
    warming up keeps them from wrecking pretrained weights."""

    def __init__(self, optimizer, warmup_steps, total_steps, last_epoch=-1):
        if int(total_steps) < 1 or not 0 <= int(warmup_steps) <= int(total_steps):
            raise errors.ValueError(f"WarmupLinearLR: need 0 <= warmup_steps <= total_steps and total_steps >= 1, "
                                    f"got warmup_steps={warmup_steps!r}, total_steps={total_steps!r}")
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        if epoch < self.warmup_steps:
            return base_lr * epoch / self.warmup_steps
        return base_lr * max(0.0, (self.total_steps - epoch) / max(1, self.total_steps - self.warmup_steps))
