"""loadtests.core.service: ready by a log line, HTTP or TCP; an early exit or a timeout quotes the
log; the port comes from the child, never probed and released."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.core import tools
from loadtests.core.service import (
    LISTENING,
    Check,
    Http,
    LogLine,
    Service,
    ServiceError,
    Tcp,
    listening,
)

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-u", "-c", code]


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_ready_by_a_log_line_and_stopped_by_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    code = "import time; print('warming'); time.sleep(0.2); print('ready now'); time.sleep(60)"
    with Service(py(code), log=log, ready=LogLine(re.compile(r"^ready now$"))) as s:
        assert s.poll() is None
        assert s.match is not None and s.match.group(0) == "ready now"
        pid = s.pid
    assert s.returncode == -15  # SIGTERM, not SIGKILL: it was asked first
    assert gone(pid)
    assert "ready now" in log.read_text()


def test_a_log_line_counts_only_from_this_start(tmp_path: Path) -> None:
    """An appended log may hold an earlier run's line; only what this start wrote counts."""
    log = tmp_path / "s.log"
    log.write_text("ready\n")
    s = Service(py("import time; time.sleep(60)"), log=log, ready=LogLine(re.compile("^ready$")))
    with pytest.raises(ServiceError, match=r"not ready within 0\.3 s"):
        s.timeout = 0.3
        s.start()


def test_an_early_exit_quotes_the_log_tail_and_keeps_the_status(tmp_path: Path) -> None:
    code = "import sys; print('\\n'.join(f'line {i}' for i in range(50))); print('bad flag --x'); sys.exit(3)"
    s = Service(py(code), name="broken", log=tmp_path / "b.log", ready=Tcp(port=9))
    with pytest.raises(ServiceError) as e:
        s.start()
    msg = str(e.value)
    assert "broken" in msg and "exited with status 3 before it was ready" in msg
    assert msg.rstrip().endswith("bad flag --x") and "line 49" in msg and "line 10\n" not in msg
    assert s.returncode == 3


def test_a_timeout_kills_the_child_and_says_what_it_waited_for(tmp_path: Path) -> None:
    # Ignores SIGTERM: only the SIGKILL after the bounded wait ends it.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    s = Service(
        py(code),
        log=tmp_path / "t.log",
        ready=Check(lambda: False, "a condition that never holds"),
        timeout=0.5,
    )
    t0 = time.monotonic()
    with pytest.raises(ServiceError) as e:
        s.start()
    assert time.monotonic() - t0 < 5
    assert "not ready within 0.5 s" in str(e.value)
    assert "a condition that never holds" in str(e.value) and "up" in str(e.value)
    assert s.returncode == -9
    assert gone(s.pid)


def test_a_group_is_stopped_whole(tmp_path: Path) -> None:
    """With group=True what the child started goes too (nginx's workers, a shell's children)."""
    code = (
        "import subprocess, sys, time;"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print('child', c.pid, flush=True); time.sleep(60)"
    )
    pattern = re.compile(r"child (\d+)")
    with Service(py(code), log=tmp_path / "g.log", ready=LogLine(pattern), group=True) as s:
        assert s.match is not None
        grandchild = int(s.match.group(1))
    deadline = time.monotonic() + 5
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(grandchild)


def test_without_a_log_a_temporary_one_is_kept_until_the_stop() -> None:
    s = Service(
        py("print('hello'); import time; time.sleep(60)"), ready=LogLine(re.compile("hello"))
    )
    with s:
        assert s.log is not None and s.log.exists()
        assert s.log_tail() == "hello"
    assert not s.log.exists()


def test_the_port_is_unknown_until_the_child_reports_it() -> None:
    s = Service(["true"])
    with pytest.raises(ServiceError, match="reported no address"):
        _ = s.port


def test_the_listening_line_is_read_in_both_log_formats() -> None:
    text = "2026-12-03T08:05:50.357765Z  INFO delay_echo::server: listening address=127.0.0.1:37745 instance=local-3"
    js = '{"timestamp":"x","level":"INFO","message":"listening","address":"[::1]:8080","instance":"vm-1"}'
    metrics = "INFO delay_echo::server: metrics listening address=127.0.0.1:9000"
    for line, address in ((text, "127.0.0.1:37745"), (js, "[::1]:8080")):
        m = LISTENING.search(line)
        assert m is not None and m.group("address") == address
    assert LISTENING.search(metrics) is None
    assert listening("local-3").search(text) and not listening("local-30").search(text)
    assert not listening("local-3").search(js)


@pytest.mark.live
def test_ready_by_http_on_a_socket_handed_over(tmp_path: Path) -> None:
    """The parent binds, the child serves on the inherited socket: no port probed and released."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    code = (
        "import http.server, socket, sys, time\n"
        "time.sleep(0.3)\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(204 if self.path == '/readyz' else 404); self.end_headers()\n"
        "srv = http.server.HTTPServer(('127.0.0.1', 0), H, bind_and_activate=False)\n"
        "srv.socket = socket.socket(fileno=int(sys.argv[1]))\n"
        "srv.serve_forever()\n"
    )
    try:
        with Service(
            [*py(code), str(sock.fileno())],
            log=tmp_path / "h.log",
            pass_fds=(sock.fileno(),),
            ready=Http("/readyz", status=204, port=port),
        ) as s:
            assert s.poll() is None
    finally:
        sock.close()


@pytest.mark.live
def test_ready_by_tcp(tmp_path: Path) -> None:
    code = (
        "import socket, time; time.sleep(0.3); s = socket.socket(); s.bind(('127.0.0.1', 0));"
        "s.listen(); print('listening address=127.0.0.1:%d' % s.getsockname()[1], flush=True);"
        "time.sleep(60)"
    )
    with Service(py(code), log=tmp_path / "tcp.log", ready=[LogLine(LISTENING), Tcp()]) as s:
        socket.create_connection(("127.0.0.1", s.port), 1).close()


@pytest.mark.live
def test_delay_echo_reports_the_port_it_bound(tmp_path: Path) -> None:
    binary = tools.delay_echo().require()
    argv = [str(binary), "--listen", "127.0.0.1:0", "--log-format", "json", "--instance-id", "s1"]
    with Service(
        argv, log=tmp_path / "de.log", ready=[LogLine(listening("s1")), Http("/readyz")]
    ) as s:
        assert s.port > 0
        out = subprocess.run(
            ["curl", "-s", f"http://127.0.0.1:{s.port}/readyz"], capture_output=True, text=True
        )
        assert out.returncode == 0
    assert s.returncode == 0  # delay-echo's own graceful exit on SIGTERM


def test_a_started_service_entered_later_is_not_started_twice() -> None:
    s = Service(py("print('up'); import time; time.sleep(60)"), ready=LogLine(re.compile("up")))
    with contextlib.ExitStack() as stack:
        started = stack.enter_context(s.start())
        assert started is s and s.poll() is None
    assert s.returncode == -15


def test_a_failed_start_leaves_no_temporary_log() -> None:
    s = Service(py("print('no'); raise SystemExit(1)"), ready=LogLine(re.compile("never")))
    with pytest.raises(ServiceError, match=r"(?s)exited with status 1 .*\nno$"):
        s.start()
    assert s.log is not None and not s.log.exists()


def test_a_line_counts_only_once_it_is_whole(tmp_path: Path) -> None:
    """A line half written must not give half an address (port 80 of 8080)."""
    code = (
        "import sys, time; sys.stdout.write('listening address=127.0.0.1:80'); sys.stdout.flush();"
        "time.sleep(0.5); print('80', flush=True); time.sleep(60)"
    )
    with Service(py(code), log=tmp_path / "half.log", ready=LogLine(LISTENING)) as s:
        assert s.port == 8080
