"""Seeing inside: trace() records every particle call, explain/to_mermaid/to_dot draw the graph
behind a tensor, detect_anomaly() stops at the first NaN or inf."""
from .anomaly import detect_anomaly
from .graph import explain, to_dot, to_mermaid
from .trace import Trace, trace

__all__ = ["Trace", "trace", "explain", "to_mermaid", "to_dot", "detect_anomaly"]
