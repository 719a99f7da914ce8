"""A tiny in-memory git: commits are full snapshots (path → bytes), branches point at commits.

Enough for the repository files, branches, commits and merge APIs: blob ids are computed the way
git computes them (sha1 of `blob <len>\\0<content>`), each file remembers the last commit that
changed it (`last_commit_id`), merges are three-way against the merge base so that a concurrent
change to the same file on the target is a conflict, not a silent overwrite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field


def blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    id: str
    parent_ids: list[str]
    message: str
    author_name: str
    author_email: str
    created_at: str
    files: dict[str, bytes]
    last_change: dict[str, str]  # path → id of the commit that last changed it
    stats: dict[str, int] = field(default_factory=lambda: {"additions": 0, "deletions": 0, "total": 0})

    @property
    def title(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


class CommitError(Exception):
    """A commit or merge GitLab would refuse; the message is GitLab's."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CommitAction:
    action: str  # create | update | delete | move | chmod
    file_path: str
    content: bytes | None = None
    previous_path: str | None = None
    last_commit_id: str | None = None


class Repository:
    def __init__(self) -> None:
        self.commits: dict[str, Commit] = {}
        self.branches: dict[str, str] = {}  # name → commit id
        self.tags: dict[str, str] = {}  # name → commit id (lightweight tags)

    def head(self, branch: str) -> Commit | None:
        cid = self.branches.get(branch)
        return self.commits[cid] if cid else None

    def resolve(self, ref: str | None) -> Commit | None:
        """A branch name, a full or short commit id; None when unknown."""
        if not ref:
            return None
        if ref in self.branches:
            return self.commits[self.branches[ref]]
        if ref.startswith("refs/heads/") and ref[11:] in self.branches:
            return self.commits[self.branches[ref[11:]]]
        if ref in self.tags:
            return self.commits[self.tags[ref]]
        if ref.startswith("refs/tags/") and ref[10:] in self.tags:
            return self.commits[self.tags[ref[10:]]]
        if ref in self.commits:
            return self.commits[ref]
        if len(ref) >= 7:
            for cid, commit in self.commits.items():
                if cid.startswith(ref):
                    return commit
        return None

    def commit(self, *, branch: str, message: str, author: tuple[str, str], created_at: str,
               actions: Iterable[CommitAction], start: Commit | None = None, force: bool = False) -> Commit:
        """Apply `actions` on `start` (or the branch head) and move `branch` to the new commit."""
        head = self.head(branch)
        if start is not None and head is not None and not force:
            raise CommitError(f"A branch called '{branch}' already exists. "
                              "Switch to that branch in order to make changes")
        parent = start if start is not None else head
        if parent is None and self.branches:
            raise CommitError("You can only create or edit files when you are on a branch")
        files = dict(parent.files) if parent else {}
        changed: list[str] = []
        adds = dels = 0
        for act in actions:
            adds_i, dels_i = self._apply(files, act, parent)
            adds, dels = adds + adds_i, dels + dels_i
            changed.append(act.file_path)
            if act.previous_path:
                changed.append(act.previous_path)
        new = self._make(files, [parent.id] if parent else [], message, author, created_at, changed,
                         parent)
        new.stats = {"additions": adds, "deletions": dels, "total": adds + dels}
        self.branches[branch] = new.id
        return new

    def _apply(self, files: dict[str, bytes], act: CommitAction, parent: Commit | None) -> tuple[int, int]:
        path = act.file_path.lstrip("/")
        old = files.get(path)
        if act.last_commit_id and act.action in ("update", "move", "delete"):
            src = (act.previous_path or path) if act.action == "move" else path
            last = parent.last_change.get(src) if parent else None
            if last is not None and last != act.last_commit_id:
                raise CommitError("You are attempting to update a file that has changed since you "
                                  "started editing it.")
        if act.action == "create":
            if old is not None:
                raise CommitError("A file with this name already exists")
            files[path] = act.content or b""
            return _lines(files[path]), 0
        if act.action == "update":
            if old is None:
                raise CommitError("A file with this name doesn't exist")
            files[path] = act.content or b""
            return _lines(files[path]), _lines(old)
        if act.action == "delete":
            if old is None:
                raise CommitError("A file with this name doesn't exist")
            del files[path]
            return 0, _lines(old)
        if act.action == "move":
            prev = (act.previous_path or "").lstrip("/")
            if prev not in files:
                raise CommitError("A file with this name doesn't exist")
            if path in files:
                raise CommitError("A file with this name already exists")
            content = files.pop(prev)
            files[path] = act.content if act.content is not None else content
            return _lines(files[path]), _lines(content)
        if act.action == "chmod":
            if old is None:
                raise CommitError("A file with this name doesn't exist")
            return 0, 0
        raise CommitError(f"Unknown action '{act.action}'")

    def _make(self, files: dict[str, bytes], parents: list[str], message: str,
              author: tuple[str, str], created_at: str, changed: Iterable[str],
              base: Commit | None) -> Commit:
        digest = hashlib.sha1()
        for part in (*parents, message, author[0], author[1], created_at, str(len(self.commits))):
            digest.update(part.encode() + b"\0")
        for path in sorted(changed):
            digest.update(path.encode() + b"\0" + files.get(path, b"-"))
        cid = digest.hexdigest()
        last = dict(base.last_change) if base else {}
        for path in changed:
            if path in files:
                last[path] = cid
            else:
                last.pop(path, None)
        commit = Commit(cid, parents, message, author[0], author[1], created_at, files, last)
        self.commits[cid] = commit
        return commit

    def ancestors(self, commit: Commit) -> list[str]:
        """Commit ids reachable from `commit` (itself first), breadth first."""
        seen: list[str] = []
        known: set[str] = set()
        queue = [commit.id]
        while queue:
            cid = queue.pop(0)
            if cid in known:
                continue
            known.add(cid)
            seen.append(cid)
            queue.extend(self.commits[cid].parent_ids)
        return seen

    def merge_base(self, a: Commit, b: Commit) -> Commit | None:
        in_a = set(self.ancestors(a))
        for cid in self.ancestors(b):
            if cid in in_a:
                return self.commits[cid]
        return None

    def conflicts(self, source: Commit, target: Commit) -> list[str]:
        base = self.merge_base(source, target)
        base_files = base.files if base else {}
        out = []
        for path in set(source.files) | set(base_files):
            s, b, t = source.files.get(path), base_files.get(path), target.files.get(path)
            if s != b and t != b and s != t:
                out.append(path)
        return sorted(out)

    def fast_forward(self, *, source: str, target: str) -> Commit:
        """`merge_method: ff`: the target branch moves to the source head; no merge commit. Only
        when the target head is an ancestor of the source head (else GitLab asks for a rebase)."""
        src, tgt = self.head(source), self.head(target)
        if src is None or tgt is None or tgt.id not in set(self.ancestors(src)):
            raise CommitError("Branch cannot be merged", 406)
        self.branches[target] = src.id
        return src

    def merge(self, *, source: str, target: str, message: str, author: tuple[str, str],
              created_at: str, squash: bool = False) -> Commit:
        """A merge commit on `target` carrying the source branch's changes since the merge base."""
        src, tgt = self.head(source), self.head(target)
        if src is None or tgt is None:
            raise CommitError("Branch cannot be merged", 406)
        if self.conflicts(src, tgt):
            raise CommitError("Branch cannot be merged", 406)
        base = self.merge_base(src, tgt)
        base_files = base.files if base else {}
        files = dict(tgt.files)
        changed = []
        for path in set(src.files) | set(base_files):
            s, b = src.files.get(path), base_files.get(path)
            if s == b:
                continue
            changed.append(path)
            if s is None:
                files.pop(path, None)
            else:
                files[path] = s
        parents = [tgt.id] if squash else [tgt.id, src.id]
        new = self._make(files, parents, message, author, created_at, changed, tgt)
        for path in changed:  # git log -1 -- path finds the source commit, not the merge
            if path in src.last_change and not squash:
                new.last_change[path] = src.last_change[path]
        self.branches[target] = new.id
        return new


def _lines(content: bytes) -> int:
    return content.count(b"\n") + (0 if content.endswith(b"\n") or not content else 1)
