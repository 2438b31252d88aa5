"""Exit statuses of ctmonitor, and which error gives which."""

from __future__ import annotations

from enum import IntEnum

from snapshots.errors import ConfigError, DeliveryError, MonitorError, StoreBusy


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    CONFIG = 2  # the config file, or a command's words
    DELIVERY_FAILED = 3  # the check ran, but an alert could not be delivered
    BUSY = 4  # another process holds the store
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


def status_of(exc: MonitorError) -> ExitStatus:
    if isinstance(exc, ConfigError):
        return ExitStatus.CONFIG
    if isinstance(exc, StoreBusy):
        return ExitStatus.BUSY
    if isinstance(exc, DeliveryError):
        return ExitStatus.DELIVERY_FAILED
    return ExitStatus.ERROR
