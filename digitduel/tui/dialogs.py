"""Small modal dialogs: pick a preset, open an earlier results file, confirm a question.

Both offer a list (built-in presets; results files found on disk, newest first) and an Input
for a path, so a file anywhere can be typed. They return what was chosen; the caller loads it.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from digitduel.numbers import middle_ellipsis


class _PickDialog(ModalScreen[str | None]):
    DEFAULT_CSS = """
    _PickDialog { align: center middle; }
    _PickDialog > Vertical {
        width: 90%; max-width: 100; height: 80%; max-height: 30;
        border: round $accent; background: $surface; padding: 0 1;
    }
    _PickDialog OptionList { height: 1fr; }
    _PickDialog Input { margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]
    TITLE = ""
    PLACEHOLDER = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.TITLE)
            yield OptionList(id="choices")
            yield Input(placeholder=self.PLACEHOLDER, id="path")

    def on_mount(self) -> None:
        self.query_one("#choices", OptionList).focus()
        self.fill()

    def fill(self) -> None:  # pragma: no cover - overridden
        pass

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.dismiss(event.option.id)

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())


class PresetDialog(_PickDialog):
    TITLE = "Load a preset (enter), or type a .toml path below"
    PLACEHOLDER = "path/to/preset.toml"

    def fill(self) -> None:
        self.list_presets()

    @work(thread=True, exit_on_error=False)
    def list_presets(self) -> None:
        from digitduel.bench.presets import list_presets

        try:
            found = [(p.name, p.description) for p in list_presets()]
        except Exception as err:  # a broken built-in preset: say so, the path still works
            found = []
            self.app.call_from_thread(self.notify, str(err), severity="error")
        self.app.call_from_thread(self._show, found)

    def _show(self, found: list[tuple[str, str]]) -> None:
        options = self.query_one("#choices", OptionList)
        options.clear_options()
        for name, description in found:
            options.add_option(Option(f"{name:<16} {description}", id=name))
        if found:
            options.highlighted = 0


class OpenResultsDialog(_PickDialog):
    TITLE = "Open a results file (enter), or type its path below"
    PLACEHOLDER = "path/to/results.json"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def fill(self) -> None:
        options = self.query_one("#choices", OptionList)
        files = sorted(
            (p for p in self.folder.glob("*.json") if p.is_file()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        # the dialog's width (90% of the screen, at most 100) less its frame and the list's
        width = min(100, self.app.size.width * 9 // 10) - 8
        for path in files[:200]:  # a long path shortened in its middle: folder and name stay
            options.add_option(Option(middle_ellipsis(str(path), width), id=str(path)))
        if files:
            options.highlighted = 0
        else:
            options.add_option(Option(f"(no results files in {self.folder}/)", disabled=True))


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question: y or its button says yes; n, escape or the other button, no."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical {
        width: 64; max-width: 95%; height: auto;
        border: round $warning; background: $surface; padding: 0 1;
    }
    ConfirmDialog Label { width: 1fr; margin-bottom: 1; }
    ConfirmDialog Horizontal { height: auto; align-horizontal: right; }
    ConfirmDialog Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            with Horizontal():
                yield Button(f"{self.no} (n)", id="no", compact=True)
                yield Button(f"{self.yes} (y)", id="yes", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer under enter

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
