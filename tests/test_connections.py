"""The page's share of the process's file descriptors (monitor.connections)."""

from __future__ import annotations

import resource

import pytest

from monitor import connections


@pytest.mark.parametrize(("soft", "cap"), [
    (1024, connections.MAX_CONNECTIONS),  # systemd's soft limit
    (256, 256 // 4 - connections.ACCEPT_BURST),
    (32, 1),
    (resource.RLIM_INFINITY, connections.MAX_CONNECTIONS),
])
def test_the_page_leaves_most_file_descriptors_to_the_daemon(
        monkeypatch: pytest.MonkeyPatch, soft: int, cap: int) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (soft, resource.RLIM_INFINITY))
    assert connections.connection_cap() == cap
    if soft != resource.RLIM_INFINITY and soft >= 4 * connections.ACCEPT_BURST:
        # what is open at the worst moment: the cap, plus a few bursts not yet closed
        assert cap + 3 * connections.ACCEPT_BURST <= soft // 2
