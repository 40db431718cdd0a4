"""Unix socket paths longer than the kernel takes are refused in one line, before any bind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from foundation.errors import TelesecError
from foundation.unix_sockets import MAX_SOCKET_PATH, check_socket_path


def test_the_longest_path_the_kernel_takes_passes_and_binds(tmp_path: Path) -> None:
    path = tmp_path / ("s" * (MAX_SOCKET_PATH - len(str(tmp_path)) - 1))
    assert len(str(path)) == MAX_SOCKET_PATH
    check_socket_path(path, "a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))


def test_one_byte_more_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / ("s" * (MAX_SOCKET_PATH - len(str(tmp_path))))
    with pytest.raises(TelesecError) as caught:
        check_socket_path(path, "the speech server's socket")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the speech server's socket would be ")
    assert f"({MAX_SOCKET_PATH + 1} bytes)" in message and "data directory" in message
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, pytest.raises(OSError):
        sock.bind(str(path))  # what the check spares the user
