"""The digitduel TUI: set-up -> live run -> results, over the same engine API as the CLI.

    DigitduelApp(data_dir=..., offline=..., device=..., preset="quick").run()

Nothing here trains or decides anything: plans come from digitduel.bench's plan functions,
training from `run_bench` in a thread worker, results from the results file. Torch is
imported only by workers, so the first screen is up before torch has loaded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding

from digitduel.settings import RESULTS_DIR, default_results_path
from digitduel.tui.setup_screen import SetupScreen

QUIT_WAIT_S = 1.5  # on quit mid-bench: how long to let the runner save before leaving
INTERRUPTED = 130  # the exit code of a bench cut short, as the CLI's after Ctrl-C


class DigitduelApp(App):
    TITLE = "digitduel"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        offline: bool = False,
        device: str | None = None,
        preset: str | None = None,
        out_dir: str | Path | None = None,  # default: where the CLI commands write too
        out_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.offline = offline
        self.device_arg = device
        self.preset_arg = preset
        self.out_dir = Path(out_dir) if out_dir is not None else RESULTS_DIR
        self.out_path = Path(out_path) if out_path else None  # fixed file (tests)
        self.last_results: Path | None = None  # what the CLI prints on exit
        self.quitting = False  # set by action_quit: a bench that ends then shows no results
        self.run_screen: Any = None  # the latest bench's live screen

    def on_mount(self) -> None:
        self.push_screen(SetupScreen())

    # -- flow between screens --------------------------------------------------------------
    def start_bench(
        self,
        plan: Any,
        mnist: Any = None,
        notes=(),
        *,
        out: Path | None = None,
        resume: bool = False,
    ) -> None:
        """Show the live run of `plan`, written to `out` (default: a new results file);
        `resume`: continue `out`'s journal, training only the runs it lacks."""
        from digitduel.tui.run_screen import RunScreen

        out = out or self.out_path or default_results_path(plan.name, self.out_dir)
        # kept after it gives way to results
        self.run_screen = RunScreen(plan, out, mnist, notes, resume=resume)
        self.clear_notifications()  # a toast belongs to the screen it was raised on
        if resume:  # the results screen that offered it gives way (its file is rewritten)
            self.switch_screen(self.run_screen)
        else:
            self.push_screen(self.run_screen)

    def resume_results(self, result: Any, path: Path) -> None:
        """Continue a cancelled (or killed) bench from its results file alone, live."""
        from digitduel.bench.resume import plan_from_results

        try:
            plan = plan_from_results(result, path=path)
        except Exception as err:  # DigitduelError: one line, the results stay on screen
            self.notify(str(err), severity="error", timeout=10)
            return
        self.start_bench(plan, out=Path(path), resume=True)

    def bench_finished(self, screen: Any) -> None:
        """The runner returned (finished or cancelled): its results replace the run screen."""
        from digitduel.tui.results_screen import ResultsScreen

        self.last_results = screen.out_path
        # Quitting cancelled this bench: no results screen to mount while the app exits.
        if self.screen is screen and not self.quitting:
            self.clear_notifications()
            self.switch_screen(ResultsScreen(screen.result, screen.out_path))

    def back_to_setup(self) -> None:
        self.clear_notifications()
        while len(self.screen_stack) > 2:  # the default screen, then set-up
            self.pop_screen()

    def action_open_results(self) -> None:
        from digitduel.tui.dialogs import OpenResultsDialog

        self.push_screen(OpenResultsDialog(self.out_dir), self._open_results)

    def _open_results(self, path: str | None) -> None:
        if path:
            self.load_results_worker(path)

    def load_results_worker(self, path: str) -> None:
        def work() -> None:
            from digitduel.bench import load_results

            try:
                result = load_results(path)
            except Exception as err:  # DigitduelError: one line, the app goes on
                self.call_from_thread(self.notify, str(err), severity="error", timeout=10)
                return
            self.call_from_thread(self._show_results, result, path)

        self.run_worker(work, thread=True, exit_on_error=False, group="open")

    def _show_results(self, result: Any, path: str) -> None:
        from digitduel.tui.results_screen import ResultsScreen

        self.clear_notifications()
        self.push_screen(ResultsScreen(result, path))

    # -- quitting ----------------------------------------------------------------------------
    def running_bench(self) -> Any:
        from digitduel.tui.run_screen import RunScreen

        for screen in self.screen_stack:
            if isinstance(screen, RunScreen) and screen.running:
                return screen
        return None

    async def action_quit(self) -> None:
        """Mid-bench: cancel (the run in flight stops at its next batch), give the runner a
        moment to save the finished runs, then leave with code 130 (as the CLI after Ctrl-C);
        the runner's thread finishes saving before the process exits even if it needs longer."""
        self.quitting = True
        screen = self.running_bench()
        code = 0
        if screen is not None:
            code = INTERRUPTED
            screen.cancel_flag.set()
            self.last_results = screen.out_path
            try:
                await asyncio.wait_for(screen.worker.wait(), QUIT_WAIT_S)
            except (TimeoutError, Exception):  # noqa: BLE001 - leaving anyway
                pass
        self.exit(return_code=code)
