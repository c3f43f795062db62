"""The append-only journal beside a results file: one JSON line per finished run.

Each line is flushed and fsynced before the bench moves on, so `kill -9` loses at most the
runs in flight. The first line is a header with the plan's fingerprint; `--resume` refuses a
journal written for different settings. A torn last line (killed mid-write) is dropped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from digitduel.bench.plan import BenchPlan
from digitduel.bench.provenance import check_unchanged, plan_provenance
from digitduel.bench.results import RunRecord, now_iso
from digitduel.errors import ConfigError, DigitduelError

JOURNAL_VERSION = 1


def journal_path(results_path: str | Path) -> Path:
    """r.json -> r.journal.jsonl, in the same folder."""
    p = Path(results_path)
    stem = p.name[:-5] if p.name.endswith(".json") else p.name
    return p.with_name(f"{stem}.journal.jsonl")


class Journal:
    def __init__(self, path: Path, fh):
        self.path = path
        self._fh = fh

    @classmethod
    def start(cls, path: str | Path, plan: BenchPlan) -> Journal:
        """A fresh journal (an old one at the same place is replaced)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - held open for appends
        journal = cls(path, fh)
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
        journal._write(header)
        return journal

    @classmethod
    def resume(cls, path: str | Path, plan: BenchPlan) -> tuple[Journal, list[RunRecord]]:
        """Reopen a journal for appending and return its finished runs.
        A missing journal starts a fresh one (nothing to skip)."""
        path = Path(path)
        if not path.exists():
            return cls.start(path, plan), []
        header, runs, good_bytes = read_journal(path)
        # First: an edited model file may also change its recipe, and this says which file.
        check_unchanged(header.get("models"), plan_provenance(plan), f"the journal {path}")
        if header.get("fingerprint") != plan.fingerprint():
            raise ConfigError(
                f"{path} was written by a bench with different settings "
                f"({_first_difference(header.get('identity'), plan.identity())}); "
                "rerun without --resume or choose another --out"
            )
        fh = open(path, "r+", encoding="utf-8")  # noqa: SIM115
        fh.truncate(good_bytes)  # drop a torn last line so the next append starts clean
        fh.seek(good_bytes)
        return cls(path, fh), runs

    def append(self, record: RunRecord) -> None:
        self._write({"kind": "run", **record.model_dump(mode="json")})

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_journal(path: Path) -> tuple[dict[str, Any], list[RunRecord], int]:
    """(header, runs, byte length of the intact prefix)."""
    data = path.read_bytes()
    header: dict[str, Any] | None = None
    runs: list[RunRecord] = []
    offset = 0
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break  # torn last line: the run was in flight
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            break
        if header is None:
            if not isinstance(obj, dict) or obj.get("kind") != "header":
                raise DigitduelError(f"{path} is not a digitduel journal (no header line)")
            header = obj
        elif obj.get("kind") == "run":
            obj.pop("kind")
            try:
                runs.append(RunRecord.model_validate(obj))
            except ValidationError:
                break
        offset += len(raw)
    if header is None:
        raise DigitduelError(f"{path} is not a digitduel journal (empty or no header line)")
    return header, runs, offset


def _first_difference(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "unknown journal format"
    for key in new:
        if old.get(key) != new[key]:
            if key == "contestants":
                return "contestants or their training settings differ"
            return f"{key}: {old.get(key)!r} then, {new[key]!r} now"
    return "fingerprint differs"
