"""RewardFlow engine for Python: ``score`` step rows into dense rewards; ``compat`` holds
drop-in replacements for the reference implementation.

The code lives in ``rewardflow_engine`` (the same package under a name that a trainer's own
``rewardflow/`` folder cannot shadow); see its documentation.
"""
from rewardflow_engine import *  # noqa: F401,F403
from rewardflow_engine import __all__  # noqa: F401

from . import compat  # noqa: F401
