"""The image's binary is statically linked and small enough for the image budget.

`scratch` holds no loader and no libc, so a binary with an ELF interpreter or a NEEDED
library would not even start in the image. Each check uses a different tool, as a person
would check it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

# The image must stay under 10 MB; it holds nothing but this file (test_dockerfile checks).
IMAGE_BUDGET_BYTES = 10_000_000


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_file_reports_static_linking(binary: Path) -> None:
    out = run("file", "--brief", str(binary)).stdout
    assert "ELF 64-bit" in out
    # glibc with crt-static gives a static PIE; both forms need no loader.
    assert "statically linked" in out or "static-pie linked" in out, out
    assert "dynamically linked" not in out, out


def test_ldd_finds_no_shared_libraries(binary: Path) -> None:
    r = run("ldd", str(binary))
    text = r.stdout + r.stderr
    assert "not a dynamic executable" in text or "statically linked" in text, text
    assert ".so" not in text, text


def test_no_program_interpreter(binary: Path) -> None:
    headers = run("readelf", "--program-headers", "--wide", str(binary))
    assert headers.returncode == 0, headers.stderr
    assert "LOAD" in headers.stdout  # the headers were really read
    assert "INTERP" not in headers.stdout, (
        "the binary asks for an ELF interpreter (ld.so), which scratch lacks"
    )


def test_no_needed_libraries(binary: Path) -> None:
    dynamic = run("readelf", "--dynamic", "--wide", str(binary))
    assert dynamic.returncode == 0, dynamic.stderr
    assert "(NEEDED)" not in dynamic.stdout, dynamic.stdout


def test_binary_fits_the_image_budget(binary: Path) -> None:
    size = binary.stat().st_size
    print(f"image binary: {size} bytes")
    assert 0 < size < IMAGE_BUDGET_BYTES, f"{size} bytes; the image budget is {IMAGE_BUDGET_BYTES}"


def test_the_lab_s_link_is_not_in_the_service_binary(binary: Path) -> None:
    # delay-echo-link is a binary of its own; its flags' env twins would show it was linked in.
    assert b"DELAY_ECHO_LINK" not in binary.read_bytes()
    help_text = run(str(binary), "--help").stdout
    assert "Usage:" in help_text and " link" not in help_text, help_text
