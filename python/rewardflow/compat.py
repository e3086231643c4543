"""Drop-in replacements for the reference implementation (see ``rewardflow_engine.compat``)."""
from rewardflow_engine.compat import *  # noqa: F401,F403
from rewardflow_engine.compat import __all__  # noqa: F401
