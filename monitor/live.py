"""The config as it stands now: the daemon and its page read the file again when it was
replaced or changed (by `track`, `untrack`, the page's forms or an editor), so tracked
trials, watches, channels and routes apply from the next check without a restart. The
schedule, [web] and the store are read when the daemon starts. A file that no longer loads
leaves the last good settings in use, and says why once in the log."""

from __future__ import annotations

import logging
import os
import threading

from monitor.config import Settings, load
from snapshots.errors import ConfigError

log = logging.getLogger("ctmonitor")
Stamp = tuple[int, int, int]


class Live:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stamp = _stamp(settings)
        self._lock = threading.Lock()
        self.generation = 0  # one more at each reload: a cache key
    @classmethod
    def of(cls, settings: Settings | Live) -> Live:
        return settings if isinstance(settings, Live) else cls(settings)

    @property
    def settings(self) -> Settings:
        """The settings of the file as it is (one stat() when it did not change)."""
        stamp = _stamp(self._settings)
        if stamp == self._stamp:
            return self._settings
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._settings = load(self._settings.path)
                    self.generation += 1
                except ConfigError as exc:
                    log.error("config not reloaded, the last good one stays in use: %s", exc)
                else:
                    log.info("config reloaded: %d tracked trials, %d watches",
                             len(self._settings.trial_ids), len(self._settings.watches))
            return self._settings


def _stamp(settings: Settings) -> Stamp:
    try:
        found = os.stat(settings.path)
    except OSError:
        return (0, 0, 0)
    return (found.st_ino, found.st_mtime_ns, found.st_size)
