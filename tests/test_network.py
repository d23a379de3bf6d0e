"""Nothing leaves the machine: a full analysis (every stage, every report file) opens no network socket.

Run under ``strace -f``: every connect/sendto/sendmsg of the process and its children is recorded,
and any address other than a local one (loopback, or a Unix socket) fails the test. This caught
onnxruntime's built-in telemetry (DNS queries for its collector), now switched off by the package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES

NETWORK_CALL = re.compile(r"\b(connect|sendto|sendmsg|bind)\((\d+), (\{.*?\})")
LOCAL = re.compile(r"sa_family=AF_UNIX|sa_family=AF_NETLINK|inet_addr\(\"127\.|inet_pton\(AF_INET6, \"::1\"")


def outgoing(trace: str) -> list[str]:
    """Network calls in an strace log whose address is not local (not loopback, Unix or netlink)."""
    return [line for line in trace.splitlines()
            if NETWORK_CALL.search(line) and "sa_family=" in line and not LOCAL.search(line)]


def test_outgoing_filter_sees_a_dns_query():
    line = ('1234 connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("8.8.8.8")}, 16) = 0')
    assert outgoing(line) == [line]
    assert outgoing('1 connect(3, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0') == []


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (install.sh installs it)")
def test_full_analysis_opens_no_network_socket(tmp_path):
    log = tmp_path / "strace.log"
    result = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=%network", "-o", str(log),
         sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"),
         "-o", str(tmp_path / "report"), "-q"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trace = log.read_text(errors="replace")
    assert outgoing(trace) == []
