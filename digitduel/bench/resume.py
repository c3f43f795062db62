"""The plan of a bench, rebuilt from its results file alone, so it can be resumed.

    plan = plan_from_results("digitduel-results/2026-11-26-quick.json")
    run_bench(plan, "digitduel-results/2026-11-26-quick.json", resume=True)

A results file stores everything that decides a run's result: the contestants with their
resolved training settings, the bench settings (rounds, pairs, seed, device, folds, executor,
jobs), the name, preset, description and the report it is compared with. The one thing it
holds only in resolved form is the data folder: the plan's `data_dir` as the user typed it
(`../shared/data/mnist`, or none for the cache) is part of the fingerprint the journal checks
on resume, so it is read back from the journal's header when the journal is beside the file.

Pure engine: no UI imports; the TUI's "resume" and the CLI's `--resume` share it.
"""

from __future__ import annotations

from pathlib import Path

from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.plan import BenchPlan
from digitduel.bench.results import BenchResult, load_results
from digitduel.errors import ConfigError, DigitduelError

RESUMABLE = ("cancelled", "running")  # "running": the process was killed before it finished


def plan_from_results(
    result_or_path: BenchResult | str | Path, *, path: str | Path | None = None
) -> BenchPlan:
    """The BenchPlan that wrote a results file, such that `plan.fingerprint()` equals the one
    in the file's journal header (so `run_bench(plan, file, resume=True)` accepts it).

    `result_or_path`: a results file (its journal is looked for beside it) or a BenchResult
    already loaded (pass `path`, the file it came from, to consult its journal too).
    Where no journal can be read, `data_dir` is the folder the digits were loaded from when
    that was a folder the user named, else None (the cache, a download, the embedded set).
    `offline` is set when the bench ran on the embedded digits, so a resume does not
    download MNIST and train its remaining rounds on other data.
    Raises DigitduelError for a missing or invalid results file (one line).
    """
    if isinstance(result_or_path, BenchResult):
        result = result_or_path
    else:
        path = Path(result_or_path)
        result = load_results(path)
    load_recorded_models(result, path)
    data = result.data
    data_dir = data.path if data.source == "dir" else None
    stored = _journal_data_dir(path)
    if stored is not _NOT_FOUND:
        data_dir = stored
    return BenchPlan(
        name=result.name,
        contestants=[c.model_copy(deep=True) for c in result.contestants],
        bench=result.bench.model_copy(deep=True),
        data_dir=data_dir,
        offline=data.source == "embedded",
        preset=result.preset,
        description=result.description,
        report=result.report,
        report_source=result.report_source,
    )


def load_recorded_models(result: BenchResult, path: str | Path | None = None) -> None:
    """Register, in this process, each user model the file's contestants need that the
    registry lacks, from the source the file recorded for it (`models`: a file or a module,
    as `--model-file` takes them), so a bench of your own models resumes from its results
    file alone, as a bench of built-ins does. Entry-point models load with every command.
    The journal's check then refuses a file whose SHA-256 changed since. A model with no
    recorded source, or whose file is gone, is one line (ConfigError, exit 2)."""
    from digitduel.models.registry import UnknownModelError, get_spec
    from digitduel.models.user import load_source, parse_source

    where = path or "the results file"
    for name in dict.fromkeys(c.model for c in result.contestants):
        try:
            get_spec(name)
            continue
        except UnknownModelError:
            pass
        recorded = (result.models or {}).get(name)
        if recorded is None or recorded.source is None or recorded.kind not in ("file", "module"):
            raise ConfigError(
                f"model {name!r} of {where} is not registered here; give the file or module "
                "that defines it (--model-file PATH.py[:Name] or module:attr)"
            )
        source = parse_source(recorded.source, name)
        if source.kind == "file" and not Path(source.target).exists():
            raise ConfigError(
                f"model {name!r} of {where} came from {source.target}, which is gone; give "
                "its file again: --model-file PATH.py[:Name]"
            )
        load_source(source)


def is_resumable(result: BenchResult) -> bool:
    """Whether a results file has runs left to do: cancelled, or killed while running."""
    return result.status in RESUMABLE


_NOT_FOUND = object()


def _journal_data_dir(results_path: str | Path | None):
    """The `data_dir` the journal's header recorded, or _NOT_FOUND (no path, no journal,
    an unreadable one: the results file's own record then serves)."""
    if results_path is None:
        return _NOT_FOUND
    journal = journal_path(results_path)
    if not journal.exists():
        return _NOT_FOUND
    try:
        header, _runs, _size = read_journal(journal)
    except (OSError, DigitduelError):
        return _NOT_FOUND
    identity = header.get("identity")
    if not isinstance(identity, dict) or "data_dir" not in identity:
        return _NOT_FOUND
    return identity["data_dir"]
