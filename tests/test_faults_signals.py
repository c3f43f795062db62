"""Signals the user chose to ignore stay ignored: a bench under `nohup` survives the hangup, and
one started as `cmd &` by a script (SIGINT ignored) survives the script's Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys

from test_cli_bench_subprocess import CLI_WITH_FAKES
from test_engine_fakes import TINY, TINY_DIGITS
from test_faults import bench_args, ended, kill_session, start_bench, wait_for_journal

from digitduel.bench.results import load_results


def test_ignored_sighup_and_sigint_do_not_cancel_the_bench(tmp_path):
    out = tmp_path / "r.json"
    args = bench_args(out, epochs=30, models=(TINY, TINY_DIGITS), rounds=2)
    # as `nohup` (SIGHUP) and a shell without job control running `cmd &` (SIGINT) would:
    # the signals ignored across exec
    trap = 'trap "" HUP INT; exec "$0" "$@"'
    proc = start_bench(args, tmp_path, ["sh", "-c", trap, sys.executable, "-c", CLI_WITH_FAKES])
    try:
        wait_for_journal(out, proc, runs=1)
        assert proc.poll() is None, "the bench ended before the signals could be sent"
        # to the whole group, as a hangup or a terminal's Ctrl-C does: workers included
        os.killpg(proc.pid, signal.SIGHUP)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = ended(proc, tmp_path)
    finally:
        kill_session(proc)
    assert proc.returncode == 0, stderr
    result = load_results(out)
    assert result.status == "finished" and len(result.runs) == 4
    assert all(r.status == "ok" for r in result.runs)
