"""The ops console (issue 16): HTML pages at /ui/ and the API explorer at /docs.

Errors answer as an HTML page with the status and the message.
"""
from .views import blueprint, render

PREFIXES = ("/ui", "/docs")

__all__ = ["PREFIXES", "blueprint", "render"]
