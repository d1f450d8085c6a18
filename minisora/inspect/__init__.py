"""Seeing inside: `trace()` records every particle call, forward and backward."""
from .trace import Trace, trace

__all__ = ["Trace", "trace"]
