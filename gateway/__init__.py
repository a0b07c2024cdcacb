"""HTTP side of soa-gateway: the app factory and one blueprint per dialect."""

__all__ = ["create_app"]


def __getattr__(name):
    """``create_app`` imported on first use: the ops commands of the CLI (and
    its shell completion, run on every Tab) never load Flask."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
