"""The state database: a journal of every action and snapshots of inventories and plans.

SQLite in `<state_dir>/state.db` (WAL, one connection per thread). The journal is append-only:
each mutating step writes an *intent* row before it calls a remote API and an *outcome* row after,
so a run killed in between leaves evidence that the next run must re-check live state instead of
trusting memory. The report's history (burn-down of live keys) is read from it.

`RunLock` keeps two runs from working on the same state at once (an OS-level `flock` on
`<state_dir>/lock`, released automatically if the process dies).
"""

from __future__ import annotations

import fcntl
import functools
import getpass
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from migrate.core.codec import decode_time, format_time
from migrate.core.errors import LockedError
from migrate.core.evidence import JournalEvidence, read_journal
from migrate.core.outcome import Status

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    run_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    stage TEXT NOT NULL,          -- apply | keys | verify | scan ...
    action_id TEXT NOT NULL,      -- plan action id, or a key id for key steps
    kind TEXT NOT NULL,           -- ensure_pool, ensure_binding, merge_request, disable_key ...
    target TEXT NOT NULL,         -- the resource acted on
    phase TEXT NOT NULL,          -- intent | outcome
    outcome TEXT,                 -- applied | skipped | failed | would_apply | refused (outcome rows)
    detail TEXT NOT NULL DEFAULT '',
    evidence TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS journal_action ON journal(action_id, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,           -- inventory | plan
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS computations (
    kind TEXT NOT NULL,           -- rewrite ... (what was computed; see record_computations)
    inputs TEXT NOT NULL,         -- digest of every input and of the code version
    ts TEXT NOT NULL,
    result TEXT NOT NULL,         -- JSON: what the computation gave (digests, never file content)
    PRIMARY KEY (kind, inputs)
);
CREATE TABLE IF NOT EXISTS texts (
    sha256 TEXT PRIMARY KEY,      -- of the text's UTF-8 bytes: content-addressed, kept once
    ts TEXT NOT NULL,
    body TEXT NOT NULL            -- a CI file as scan read it (never one that holds key material)
);
"""


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    ts: datetime  # aware UTC, whole seconds; the column holds its `format_time` text
    run_id: str
    actor: str
    stage: str
    action_id: str
    kind: str
    target: str
    phase: str
    outcome: Status | None  # outcome rows: the one Status (its word is the column's text)
    detail: str
    evidence: dict[str, Any]  # the object as stored (what the journal has always held)

    @functools.cached_property
    def typed_evidence(self) -> JournalEvidence:
        """`evidence` decoded by (stage, kind) into the type this build writes for such a row, or
        kept whole as `LegacyEvidence` with the reason it does not fit (`migrate.core.evidence`)."""
        return read_journal(self.stage, self.kind, self.phase, self.evidence)

    @property
    def ts_text(self) -> str:
        """The row's time as the journal's ts column holds it (`2026-03-01T09:00:00Z`): for readers
        that still compare or journal it as text (migrate/retire until its own step of issue 20)."""
        return format_time(self.ts)


def unfinished_entries(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    """Intents with no later outcome for the same (stage, action): what a killed run was doing."""
    pending: dict[tuple[str, str], JournalEntry] = {}
    for e in entries:
        if e.phase == "intent":
            pending[(e.stage, e.action_id)] = e
        else:
            pending.pop((e.stage, e.action_id), None)
    return list(pending.values())


#: a source of "now": an aware datetime, or RFC 3339 text (a test's fixed times) read with decode_time
Clock = Callable[[], datetime | str]

_clock: Clock | None = None


def set_clock(clock: Clock | None) -> None:
    """Make every timestamp the tool writes come from `clock`.

    `wif-migrate demo` points it at the sandbox's clock, so inventories, plans, the journal and the
    report share one timeline with the emulated world (which `--now` pins and the demo advances)."""
    global _clock
    _clock = clock


def _to_the_second(moment: datetime | str) -> datetime:
    """Aware UTC to the whole second: every time the tool writes is at most second-precise, so
    `encode_time` writes it as `format_time` does (and as the string-keeping builds wrote it)."""
    aware = decode_time(moment) if isinstance(moment, str) else moment.astimezone(UTC)
    return aware.replace(microsecond=0)


def utcnow() -> datetime:
    """Now (the clock `set_clock` set, else the system's), aware UTC to the whole second."""
    return _to_the_second(_clock() if _clock is not None else datetime.now(UTC))


def default_actor() -> str:
    """Who is acting: the GitLab CI user when run in a pipeline, else the OS user, @ host."""
    user = os.environ.get("GITLAB_USER_LOGIN")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


class State:
    """Journal and snapshots. Thread-safe; cheap to open."""

    def __init__(self, state_dir: str | Path, actor: str | None = None, clock: Clock | None = None) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "state.db"
        self.run_id = uuid.uuid4().hex[:12]
        self.actor = actor or default_actor()
        self._clock = clock  # optional source of now (`keys --now`, tests); else `utcnow`
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def now(self) -> datetime:
        """Now for this state's rows: aware UTC, whole seconds."""
        return _to_the_second(self._clock()) if self._clock is not None else utcnow()

    def now_text(self) -> str:
        """`now()` as the ts columns (and evidence's `when`) hold it: `2026-03-01T09:00:00Z`."""
        return format_time(self.now())

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        yield conn

    # --- journal -----------------------------------------------------------------------------
    def record(self, stage: str, action_id: str, kind: str, target: str, phase: str,
               outcome: Status | None = None, detail: str = "", evidence: dict[str, Any] | None = None) -> None:
        """Append one journal row. Callers pass identities and reasons, never secret material.
        `outcome` is one `Status` (a word outside it is refused here, before it is stored)."""
        word = None if outcome is None else Status(outcome).value
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO journal (ts, run_id, actor, stage, action_id, kind, target, phase, outcome,"
                " detail, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (self.now_text(), self.run_id, self.actor, stage, action_id, kind, target, phase, word,
                 detail, json.dumps(evidence or {}, sort_keys=True)),
            )

    def intent(self, stage: str, action_id: str, kind: str, target: str, detail: str = "",
               evidence: dict[str, Any] | None = None) -> None:
        self.record(stage, action_id, kind, target, "intent", None, detail, evidence)

    def outcome(self, stage: str, action_id: str, kind: str, target: str, outcome: Status, detail: str = "",
                evidence: dict[str, Any] | None = None) -> None:
        self.record(stage, action_id, kind, target, "outcome", outcome, detail, evidence)

    def entries(self, stage: str | None = None, action_id: str | None = None) -> list[JournalEntry]:
        sql = "SELECT * FROM journal"
        where, args = [], []
        if stage is not None:
            where.append("stage = ?")
            args.append(stage)
        if action_id is not None:
            where.append("action_id = ?")
            args.append(action_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._conn() as conn:
            rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [JournalEntry(r[0], decode_time(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                             None if r[9] is None else Status(r[9]), r[10],
                             json.loads(r[11])) for r in rows]

    def last_outcome(self, action_id: str, stage: str | None = None) -> JournalEntry | None:
        """The latest outcome row for an action (None if it never finished)."""
        outcomes = [e for e in self.entries(stage, action_id) if e.phase == "outcome"]
        return outcomes[-1] if outcomes else None

    def unfinished(self, stage: str | None = None) -> list[JournalEntry]:
        """Intents with no later outcome: steps a crashed run may or may not have done."""
        return unfinished_entries(self.entries(stage))

    def warn_unfinished(self, stage: str) -> list[JournalEntry]:
        """Say, before a run starts, which steps an earlier run left without an outcome."""
        left = self.unfinished(stage)
        if left:
            names = ", ".join(e.action_id for e in left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            log.warning("an earlier %s run stopped during %d step(s) (%s); each is read again from live "
                        "state before anything is done", stage, len(left), names)
        return left

    # --- computations --------------------------------------------------------------------------
    def record_computations(self, kind: str, results: Mapping[str, Mapping[str, Any]]) -> None:
        """Journal deterministic results by the digest of their inputs (one transaction): a later
        command that meets the same inputs knows the result without recomputing it
        (`migrate.plan.rewrite_journal`). Results hold digests and reasons, never file content."""
        if not results:
            return
        now = self.now_text()
        with self._conn() as conn:
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO computations (kind, inputs, ts, result) VALUES (?,?,?,?)",
                             [(kind, k, now, json.dumps(dict(v), sort_keys=True)) for k, v in results.items()])
            conn.execute("COMMIT")

    def computation(self, kind: str, inputs: str) -> dict[str, Any] | None:
        """The journaled result of one computation of `kind` by its inputs digest, else None."""
        with self._conn() as conn:
            row = conn.execute("SELECT result FROM computations WHERE kind = ? AND inputs = ?",
                               (kind, inputs)).fetchone()
        return json.loads(row[0]) if row else None

    def computations(self, kind: str) -> dict[str, dict[str, Any]]:
        """Inputs digest → result of every journaled computation of `kind`."""
        with self._conn() as conn:
            rows = conn.execute("SELECT inputs, result FROM computations WHERE kind = ?", (kind,)).fetchall()
        return {str(r[0]): json.loads(r[1]) for r in rows}

    # --- texts -------------------------------------------------------------------------------
    def save_texts(self, texts: Mapping[str, str]) -> None:
        """Keep CI texts by their sha256 (one transaction): `scan` keeps what it read, `plan` uses a
        text only when it still has the sha256 the inventory names (`migrate.plan.scanned_files`)."""
        if not texts:
            return
        now = self.now_text()
        with self._conn() as conn:
            conn.execute("BEGIN")
            conn.executemany("INSERT OR IGNORE INTO texts (sha256, ts, body) VALUES (?,?,?)",
                             [(k, now, v) for k, v in texts.items()])
            conn.execute("COMMIT")

    def texts(self, sha256s: Iterable[str]) -> dict[str, str]:
        """The kept texts of these digests (those the state has)."""
        wanted = sorted(set(sha256s))
        out: dict[str, str] = {}
        with self._conn() as conn:
            for i in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
                chunk = wanted[i:i + 500]
                marks = ",".join("?" * len(chunk))
                out.update((str(k), str(v)) for k, v in conn.execute(
                    f"SELECT sha256, body FROM texts WHERE sha256 IN ({marks})", chunk))  # noqa: S608
        return out

    def text_sink(self) -> TextBuffer:
        return TextBuffer(self)

    # --- snapshots ---------------------------------------------------------------------------
    def save_snapshot(self, kind: str, body: Any) -> None:
        with self._conn() as conn:
            conn.execute("INSERT INTO snapshots (ts, kind, body) VALUES (?,?,?)",
                         (self.now_text(), kind, json.dumps(body, sort_keys=True)))

    def save_snapshot_file(self, kind: str, path: str | Path) -> None:
        """A snapshot whose body is a JSON file already written (the plan `plan -o FILE` wrote):
        copied into the database in chunks through SQLite's incremental BLOB I/O, so a plan of
        10,000 projects (~40 MB of JSON) is never encoded a second time nor held as one string
        (issue 18). The readers decode it like any body (`json.loads` takes the UTF-8 bytes)."""
        source = Path(path)
        size = source.stat().st_size
        with self._conn() as conn, source.open("rb") as fh:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute("INSERT INTO snapshots (ts, kind, body) VALUES (?,?,zeroblob(?))",
                                   (self.now_text(), kind, size))
                with conn.blobopen("snapshots", "body", int(cur.lastrowid or 0)) as blob:
                    while chunk := fh.read(1 << 20):
                        blob.write(chunk)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def latest_snapshot(self, kind: str) -> Any | None:
        with self._conn() as conn:
            row = conn.execute("SELECT body FROM snapshots WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                               (kind,)).fetchone()
        return json.loads(row[0]) if row else None

    def snapshot_bodies_newest_first(self, kind: str) -> Iterator[Any]:
        """Every snapshot body of `kind`, newest first, decoded one at a time as the caller asks
        for the next: a state directory with many scans of 10,000 projects (~13 MB of JSON
        each) does not hold them all at once to use one (issue 18)."""
        with self._conn() as conn:
            cursor = conn.execute("SELECT body FROM snapshots WHERE kind = ? ORDER BY seq DESC", (kind,))
            try:
                for (body,) in cursor:
                    yield json.loads(body)
            finally:
                cursor.close()

    def snapshots(self, kind: str) -> list[tuple[datetime, Any]]:
        """Every snapshot of `kind` in the order saved: (its ts column read as an aware UTC time, as
        the journal's is; the body decoded)."""
        with self._conn() as conn:
            rows = conn.execute("SELECT ts, body FROM snapshots WHERE kind = ? ORDER BY seq",
                                (kind,)).fetchall()
        return [(decode_time(r[0]), json.loads(r[1])) for r in rows]


class RunLock:
    """An exclusive lock on a state directory for the duration of a mutating run."""

    def __init__(self, state_dir: str | Path, command: str) -> None:
        self.path = Path(state_dir) / "lock"
        self.command = command
        self._fh: IO[str] | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise LockedError(
                f"another wif-migrate run holds {self.path} ({holder}); wait for it to finish. "
                "If no run is active, the lock is released automatically when its process exits."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{self.command} pid {os.getpid()} on {socket.gethostname()} since {format_time(utcnow())}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class TextBuffer:
    """`scan.ports.TextSink` over a `State`: texts from the scan's worker threads, written in
    batches (each writer thread its own connection); `flush` writes the rest."""

    BATCH = 256

    def __init__(self, state: State) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}

    def keep(self, sha256: str, text: str) -> None:
        with self._lock:
            self._pending[sha256] = text
            if len(self._pending) < self.BATCH:
                return
            batch, self._pending = self._pending, {}
        self.state.save_texts(batch)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
        self.state.save_texts(batch)


def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Small polling helper for tests and for eventually-consistent reads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
