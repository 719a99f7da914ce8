"""Progress on every long verb (issue 19 item 3): on stderr when it is a terminal, quiet otherwise,
plain lines without escape sequences under NO_COLOR, and stdout (the JSON envelope) unaffected.

The terminal is a real pseudo-terminal (`os.openpty`): the verb's stderr is the pty's slave end, so
`isatty()` is true the way it is for a user, and everything written is read back from the master.
The verbs run against the demo sandbox over HTTP.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from migrate.cli.verbs import main
from migrate.core.progress import LineProgress, RichProgress, SilentProgress, progress_for
from migrate.sandbox.launch import Sandbox

#: verb argv (after the fixture's files are substituted) → the progress text it must show
VERBS: list[tuple[str, tuple[str, ...], str]] = [
    ("scan", ("scan", "-o", "{inv}", "--format", "json"), "Scanning projects"),
    ("plan", ("plan", "--inventory", "{inv}", "-o", "{plan}", "--format", "json", "--no-diff"),
     "Computing the plan"),
    ("apply", ("apply", "{plan}", "--dry-run", "--format", "json"), "apply (dry run)"),
    ("verify", ("verify", "--plan", "{plan}", "--format", "json"), "Verifying merge requests"),
    ("keys", ("keys", "retire", "--plan", "{plan}", "--dry-run", "--format", "json"), "keys retire (dry run)"),
    ("report", ("report", "--inventory", "{inv}", "--plan", "{plan}", "--out", "{out}", "-f", "md,json,gitlab"),
     "Writing reports"),
]


@contextmanager
def pty_stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], str]]:
    """sys.stderr is a pseudo-terminal for the block; the returned callable gives what was shown."""
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the slave side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    shown: list[str] = []
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        yield lambda: shown[0]
    finally:
        stream.flush()
        stream.close()
        reader.join(timeout=10)
        os.close(master)
        shown.append(b"".join(chunks).decode("utf-8", "replace"))


@pytest.fixture()
def files(demo_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in demo_sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    config = str(demo_sandbox.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))
    return {"config": config, "inv": str(tmp_path / "inv.json"), "plan": str(tmp_path / "plan.json"),
            "out": str(tmp_path / "reports")}


def _argv(argv: tuple[str, ...], files: dict[str, str]) -> list[str]:
    return [a.format(**files) for a in argv] + ["-c", files["config"]]


def _run_all(files: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             terminal: bool) -> dict[str, tuple[str, str]]:
    """Each verb in order → (stdout, what stderr showed)."""
    out: dict[str, tuple[str, str]] = {}
    for name, argv, _text in VERBS:
        capsys.readouterr()
        if terminal:
            with pty_stderr(monkeypatch) as shown:
                main(_argv(argv, files))
            stdout = capsys.readouterr().out
            out[name] = (stdout, shown())
        else:
            main(_argv(argv, files))
            captured = capsys.readouterr()
            out[name] = (captured.out, captured.err)
    return out


def _json_ok(name: str, stdout: str) -> None:
    if name == "report":  # report prints the files it wrote
        assert "report.md" in stdout and "\x1b" not in stdout
        return
    doc: Any = json.loads(stdout)  # nothing but the envelope on stdout
    assert doc["command"].split()[0] == name


def test_progress_on_a_terminal_for_every_long_verb(files: dict[str, str], capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _run_all(files, capsys, monkeypatch, terminal=True)
    for name, _, text in VERBS:
        stdout, err = shown[name]
        assert text in err, f"{name}: no progress on the terminal: {err[-400:]!r}"
        _json_ok(name, stdout)
    # the reads are shown, not just the compute (the files the scan kept come from the state)
    assert "Reading the scanned CI files from the state" in shown["plan"][1]
    assert "\x1b[" in shown["plan"][1]  # a live bar (cursor and colour codes) when colour is allowed


def test_quiet_when_stderr_is_not_a_terminal(files: dict[str, str], capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _run_all(files, capsys, monkeypatch, terminal=False)
    for name, _, text in VERBS:
        stdout, err = shown[name]
        assert text not in err, f"{name}: progress although stderr is not a terminal"
        assert "\x1b" not in err + stdout
        _json_ok(name, stdout)


def test_no_color_gives_plain_lines_without_escapes(files: dict[str, str], capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    shown = _run_all(files, capsys, monkeypatch, terminal=True)
    for name, _, text in VERBS:
        stdout, err = shown[name]
        assert text in err, f"{name}: NO_COLOR must not hide progress"
        assert "\x1b" not in err, f"{name}: an escape sequence under NO_COLOR: {err!r}"
        _json_ok(name, stdout)
    assert ": done, " in shown["plan"][1]  # counted reads end with their count …
    assert "Computing the plan" in shown["plan"][1] and ": done in " in shown["plan"][1]  # … the uncounted step not


def test_failures_stand_out_on_a_colour_terminal_only(files: dict[str, str], capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """verify before anything merged: PENDING/FAILED rows; coloured on a terminal, plain in a pipe."""
    for _name, argv, _text in VERBS[:2]:
        main(_argv(argv, files))
    capsys.readouterr()
    verify = _argv(("verify", "--plan", "{plan}", "--progress", "never"), files)
    main(verify)
    piped = capsys.readouterr().out
    assert "PENDING" in piped or "FAILED" in piped
    assert "\x1b" not in piped
    master, slave = os.openpty()
    with open(slave, "w", encoding="utf-8") as tty:
        monkeypatch.setattr(sys, "stdout", tty)
        main(verify)
        tty.flush()
        data = os.read(master, 1 << 20).decode("utf-8", "replace")
    os.close(master)
    assert "\x1b[33;1mPENDING\x1b[0m" in data or "\x1b[31;1mFAILED\x1b[0m" in data, data[:500]


def test_a_real_process_on_a_pseudo_terminal(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The installed entry point, its stderr a pty and stdout a pipe: progress on one, JSON on the other."""
    main(_argv(VERBS[0][1], files))
    capsys.readouterr()
    master, slave = os.openpty()
    env = {**os.environ}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "migrate", *_argv(VERBS[1][1], files)], stdout=subprocess.PIPE,
                            stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    stdout, _ = proc.communicate(timeout=120)
    os.close(master)
    err = b"".join(chunks).decode("utf-8", "replace")
    assert "Computing the plan" in err and "Reading the scanned CI files from the state" in err
    assert json.loads(stdout)["command"] == "plan"


def test_the_choice_of_progress_can_fail() -> None:
    """The selection itself: a pipe is silent, a terminal gets a bar, NO_COLOR gets lines; and a
    LineProgress never writes an escape (checked on a broken variant that would)."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_for(io.StringIO()), SilentProgress)
    assert isinstance(progress_for(Tty()), RichProgress)
    assert isinstance(progress_for(io.StringIO(), enabled=True), RichProgress)
    os.environ["NO_COLOR"] = "1"
    try:
        assert isinstance(progress_for(Tty()), LineProgress)
    finally:
        del os.environ["NO_COLOR"]
    buf = io.StringIO()
    lines = LineProgress(buf, every=0.0)
    lines.start("work", 3)
    for _ in range(3):
        lines.advance()
    lines.finish()
    text = buf.getvalue()
    assert text.splitlines()[0] == "work ... 0/3" and "work: 3/3" in text and "work: done, 3/3" in text
    assert "\x1b" not in text
