"""The HTML report in a real browser: headless Chromium screenshots it and the chart is drawn.

Skipped (with the reason) when /usr/bin/chromium is absent; CI installs Debian's chromium.
The PNG is decoded with zlib + struct (no imaging dependency).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from migrate.report import html
from migrate.report.chart import FILL, LINE
from migrate.report.findings import FindingsDocument

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")


def decode_png(data: bytes, max_rows: int | None = None) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows of raw pixel bytes, bytes per pixel) for 8-bit RGB/RGBA, non-interlaced;
    only the first `max_rows` rows are unfiltered (each row depends on the one above)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(min(height, max_rows or height)):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def count_near(rows: list[bytes], bpp: int, box: tuple[int, int, int, int], color: tuple[int, int, int]) -> int:
    x0, y0, x1, y1 = box
    n = 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            px = row[x * bpp:x * bpp + 3]
            if all(abs(px[i] - color[i]) <= 24 for i in range(3)):
                n += 1
    return n


def test_html_report_renders_the_chart_in_chromium(doc: FindingsDocument, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(doc), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
                    page.as_uri()], check=True, capture_output=True, timeout=90)
    keep = Path("/tmp/wif-migrate-report-screenshot.png")  # for a human to look at after the run
    shutil.copyfile(shot, keep)
    width, height, rows, bpp = decode_png(shot.read_bytes(), max_rows=800)
    assert (width, height) == (1200, 1600)
    # The chart sits below the title and the summary cards: roughly y 380-800, x 20-820 at this size.
    chart_box = (20, 380, 820, 800)
    assert count_near(rows, bpp, chart_box, rgb(LINE)) > 500, "the burn-down line is not drawn"
    assert count_near(rows, bpp, chart_box, rgb(FILL)) > 20000, "the area under the line is not filled"
    # Nothing of the chart's colours above it (title and cards), so the box really is the chart.
    assert count_near(rows, bpp, (0, 0, 1200, 120), rgb(LINE)) == 0
