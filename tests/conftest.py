import os

from hypothesis import HealthCheck, settings

# CI is derandomized so that a run is reproducible (a red build always says the same thing);
# locally the "dev" profile explores new examples every run.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
