"""The platform: the OpenAI-compatible gateway, task executors, store, admission control and metrics."""

from headwater.platform.app import Gateway, create_app
from headwater.platform.store import Store

__all__ = ["Gateway", "Store", "create_app"]
