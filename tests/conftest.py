import os

from hypothesis import HealthCheck, settings

# First calls compile kernels, so no deadline; few examples keep CI fast. MINISORA_EXAMPLES=200 digs deeper.
settings.register_profile(
    "minisora",
    max_examples=int(os.environ.get("MINISORA_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("minisora")
