"""Errors of the registry domain, one class per thing a caller can act on.

The HTTP dialects turn each of these into their own envelope; nothing here
knows about HTTP.
"""


class RegistryError(Exception):
    """Base class: ``message`` is safe to show to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidName(RegistryError):
    """A service name, member key or host that breaks the contract's rules."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownZkidc(RegistryError):
    """The request named a ZooKeeper cluster the gateway is not configured for."""


class NotFound(RegistryError):
    """The service or member does not exist."""


class AlreadyExists(RegistryError):
    """The thing to create is there already."""


class Unsupported(RegistryError):
    """The change does not apply to this node (an application's instance,
    data that is not ServerSet JSON)."""


class NotEmpty(RegistryError):
    """A service still has members and deleting it was not forced."""


class TooLarge(RegistryError):
    """What would be written is more than a znode may hold."""


class Unavailable(RegistryError):
    """ZooKeeper could not be reached in time; the caller may retry."""


class Conflict(RegistryError):
    """Someone else changed the node between our read and our write; retry."""
