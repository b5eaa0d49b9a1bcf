"""The ClipForge API's models, shared by the gateway (which serves them) and its clients."""

from clipforge.api.models import *  # noqa: F403
from clipforge.api.models import __all__ as __all__
