"""The exceptions every layer raises; the CLI turns each into one line and an exit status.

They live in the lowest layer (snapshots) so that the store, the channels and the monitor
share them without importing upward.
"""


class MonitorError(Exception):
    """Root of every error the monitor reports to the user as one line."""


class ConfigError(MonitorError):
    """The config file is missing, malformed or holds a value that is not allowed."""


class RegistryError(MonitorError):
    """The registry could not be reached or answered with something unusable."""


class RecordError(MonitorError):
    """A document is not an API v2 study record."""


class StoreError(MonitorError):
    """The snapshot store could not be opened, read or written."""


class StoreOutOfDate(StoreError):
    """The store's schema is older than this program's: `ctmonitor store migrate`."""


class StoreBusy(StoreError):
    """Another process holds the store's writer lock."""


class DeliveryError(MonitorError):
    """A notification channel did not accept an alert."""
