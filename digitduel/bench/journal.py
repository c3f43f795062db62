"""The append-only journal beside a results file: one JSON line per finished run.

Each line is written whole, then fsynced, before the bench moves on, so `kill -9` loses at
most the runs in flight; a line the disk had no room for is taken back (the file is cut to
where it was) and the bench stops with one line (`JournalFull`). The first line is a header
with the plan's fingerprint; `--resume` refuses a journal written for different settings.
Reading back is forgiving line by line: a torn last line (killed mid-write) is dropped, and a
damaged line anywhere (not JSON, not an object, not UTF-8, NUL bytes left by a crash) is
skipped and counted, never taken to mean that the runs after it are gone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from digitduel.bench.plan import BenchPlan
from digitduel.bench.provenance import check_unchanged, plan_provenance
from digitduel.bench.results import RunRecord, now_iso
from digitduel.errors import ConfigError, DigitduelError

JOURNAL_VERSION = 1


class JournalFull(DigitduelError):
    """A finished run could not be written down (disk full, file too large, I/O error)."""


def journal_path(results_path: str | Path) -> Path:
    """r.json -> r.journal.jsonl, in the same folder."""
    p = Path(results_path)
    stem = p.name[:-5] if p.name.endswith(".json") else p.name
    return p.with_name(f"{stem}.journal.jsonl")


@dataclass
class JournalContents:
    header: dict[str, Any]
    runs: list[RunRecord]
    good_bytes: int  # through the last complete line: appends continue from here
    damaged: int  # complete lines skipped as unreadable


class Journal:
    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def start(cls, path: str | Path, plan: BenchPlan, runs: list[RunRecord] = ()) -> Journal:
        """A fresh journal (an old one at the same place is replaced), holding `runs` (e.g.
        rebuilt from a results file whose journal is gone)."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise JournalFull(f"cannot create the journal {path}: {err.strerror}") from None
        journal = cls(path, fd)
        header = {
            "kind": "header",
            "journal_version": JOURNAL_VERSION,
            "name": plan.name,
            "created": now_iso(),
            "fingerprint": plan.fingerprint(),
            "identity": plan.identity(),
        }
        models = plan_provenance(plan)
        if models:  # user models: `resume` refuses one whose source file changed since
            header["models"] = {n: p.model_dump(mode="json") for n, p in models.items()}
        try:
            journal._write(header)
            for record in runs:
                journal.append(record)
        except JournalFull:
            # No room even to start: leave no headless journal that a rerun would refuse.
            journal.close()
            path.unlink(missing_ok=True)
            raise
        return journal

    @classmethod
    def resume(cls, path: str | Path, plan: BenchPlan) -> tuple[Journal, JournalContents]:
        """Reopen an existing journal for appending; its contents (finished runs, how many
        lines were damaged)."""
        path = Path(path)
        contents = load_journal(path)
        # First: an edited model file may also change its recipe, and this says which file.
        models = contents.header.get("models")
        check_unchanged(models, plan_provenance(plan), f"the journal {path}")
        if contents.header.get("fingerprint") != plan.fingerprint():
            raise ConfigError(
                f"{path} was written by a bench with different settings "
                f"({first_difference(contents.header.get('identity'), plan.identity())}); "
                "rerun without --resume or choose another --out"
            )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            os.ftruncate(fd, contents.good_bytes)  # drop a torn last line: appends start clean
        except OSError as err:
            raise JournalFull(f"cannot reopen the journal {path}: {err.strerror}") from None
        return cls(path, fd), contents

    def append(self, record: RunRecord) -> None:
        self._write({"kind": "run", **record.model_dump(mode="json")})

    def _write(self, obj: dict[str, Any]) -> None:
        """One whole line, fsynced; on failure the file is cut back to where it was, so a
        full disk never leaves half a line for the next append to be glued to."""
        if self._fd is None:
            raise JournalFull(f"the journal {self.path} is closed")
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode("utf-8")
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as err:
            try:
                os.ftruncate(self._fd, start)  # shrinking needs no space
            except OSError:
                pass  # a torn last line is dropped on reading anyway
            raise JournalFull(
                f"cannot write to the journal {self.path}: {err.strerror or err}"
            ) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def load_journal(path: Path) -> JournalContents:
    """Every run a journal holds, skipping (and counting) damaged lines."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DigitduelError(f"cannot read the journal {path}: {err.strerror}") from None
    header: dict[str, Any] | None = None
    runs: list[RunRecord] = []
    good_bytes = damaged = 0
    # Only "\n" ends a line (json.dumps escapes every other line break). After the last
    # one: nothing, or a torn line (the run in flight when the bench was killed).
    for raw in data.split(b"\n")[:-1]:
        good_bytes += len(raw) + 1
        obj = _parse_line(raw)
        if header is None:
            if obj is None or obj.get("kind") != "header":
                raise DigitduelError(f"{path} is not a digitduel journal (no header line)")
            header = obj
            continue
        record = _run_of(obj)
        if record is None:
            damaged += 1
        else:
            runs.append(record)
    if header is None:
        raise DigitduelError(f"{path} is not a digitduel journal (empty or no header line)")
    return JournalContents(header, runs, good_bytes, damaged)


def read_journal(path: Path) -> tuple[dict[str, Any], list[RunRecord], int]:
    """(header, runs, byte length of the part that appends continue from)."""
    contents = load_journal(path)
    return contents.header, contents.runs, contents.good_bytes


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """A line as a JSON object, or None. NUL bytes before it (the hole a crashed writer
    leaves in a file) are not part of the line."""
    text = raw.lstrip(b"\0").strip()
    try:
        obj = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _run_of(obj: dict[str, Any] | None) -> RunRecord | None:
    if obj is None or obj.get("kind") != "run":
        return None
    try:
        return RunRecord.model_validate({k: v for k, v in obj.items() if k != "kind"})
    except ValidationError:
        return None


def first_difference(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "unknown journal format"
    for key in new:
        if old.get(key) != new[key]:
            if key == "contestants":
                return "contestants or their training settings differ"
            return f"{key}: {old.get(key)!r} then, {new[key]!r} now"
    return "fingerprint differs"
