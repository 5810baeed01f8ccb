"""The HTTP API and web page: ``create_app(settings)`` (FastAPI), served by ``citewise serve``."""

from api.app import create_app

__all__ = ["create_app"]
