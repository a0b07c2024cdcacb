"""HTTP side of soa-gateway: the app factory and one blueprint per dialect."""
from .app import create_app

__all__ = ["create_app"]
