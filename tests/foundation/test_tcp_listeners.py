"""A TCP port that cannot be taken stops start-up with one line naming its setting."""

from __future__ import annotations

import socket

import pytest

from foundation.errors import TelesecError
from foundation.tcp_listeners import bind_tcp_listener


def test_a_free_port_is_bound_and_accepts() -> None:
    listener = bind_tcp_listener("127.0.0.1", 0, "api.port")
    try:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            accepted, _ = listener.accept()
            accepted.close()
    finally:
        listener.close()


def test_a_port_in_use_is_one_line_naming_the_setting() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(TelesecError) as caught:
            bind_tcp_listener("127.0.0.1", port, "api.port")
    message = str(caught.value)
    assert "\n" not in message
    assert message == (f"cannot listen on 127.0.0.1:{port}: another program uses this "
                       "port: stop it or change api.port")


def test_an_address_this_machine_lacks_says_so() -> None:
    with pytest.raises(TelesecError, match=r"this machine has no such address: fix the host "
                                           r"beside api\.port"):
        bind_tcp_listener("192.0.2.1", 0, "api.port")  # TEST-NET-1: never bound, no traffic


def test_an_unknown_host_says_so() -> None:
    with pytest.raises(TelesecError, match="unknown host"):
        bind_tcp_listener("no-such-host.invalid", 0, "api.port")
