"""The platform: the OpenAI-compatible gateway, task executors, store, admission control and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.platform.app import Gateway, create_app
    from headwater.platform.store import Store

_EXPORTS = {
    "Gateway": "headwater.platform.app",
    "Store": "headwater.platform.store",
    "create_app": "headwater.platform.app",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = ["Gateway", "Store", "create_app"]
