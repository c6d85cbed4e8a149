"""The one port helper (medidash.ports): a preferred port when free, never one handed out."""

from __future__ import annotations

import socket

from medidash.ports import GRPC_OFFSET, free_port, is_free


def test_preferred_when_free_else_another_never_twice():
    taken: set[int] = set()
    first = free_port(None, taken)
    assert is_free(first) and is_free(first + GRPC_OFFSET)
    assert free_port(first, taken) != first  # handed out already
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not is_free(port)
        assert free_port(port, taken) != port
    assert len(taken) == 3
