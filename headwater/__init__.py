"""Headwater: train, judge, harden, serve and account for language models, in one platform."""

from headwater.config import Settings
from headwater.errors import (
    AuthenticationError,
    EngineUnavailableError,
    HeadwaterError,
    InvalidRequestError,
    ModelLoadError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "EngineUnavailableError",
    "HeadwaterError",
    "InvalidRequestError",
    "ModelLoadError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "Settings",
    "__version__",
]
