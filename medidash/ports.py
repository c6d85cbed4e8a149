"""Free TCP ports on 127.0.0.1 for the processes MediDash starts (the embedded PostgreSQL, the
local stack's services) and the tests start.

One rule for every port handed out: a port the OS picks also has port + 10000 free, since
SeaweedFS listens there too (its gRPC port) and any port may be given to it.
"""

from __future__ import annotations

import socket

GRPC_OFFSET = 10000


def is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` (it can be bound now)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, taken: set[int] | None = None) -> int:
    """`preferred` when it is free, else a free port the OS picks; never one in `taken`, which
    gets the port returned (so that one plan hands each port out once)."""
    taken = taken if taken is not None else set()
    if preferred and preferred not in taken and is_free(preferred):
        taken.add(preferred)
        return preferred
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken and port + GRPC_OFFSET <= 65535 and is_free(port + GRPC_OFFSET):
            taken.add(port)
            return port
