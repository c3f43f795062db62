"""Load a user model file from the set-up screen: a one-field dialog and the loader it drives.

The dialog returns the typed reference (`PATH.py`, `PATH.py:Name` or `module:attr`, as
`--model-file` takes it); `load_model_file` loads it through digitduel.models.user, the same
API as the CLI, so the checks and their one-line errors are the same.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ModelFileDialog(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ModelFileDialog { align: center middle; }
    ModelFileDialog > Vertical {
        width: 90%; max-width: 90; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ModelFileDialog Input { margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Load your model file (enter): PATH.py, PATH.py:ClassName or module:attr")
            yield Input(placeholder="examples/my_model.py", id="model-file")

    def on_mount(self) -> None:
        self.query_one("#model-file", Input).focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


def load_model_file(reference: str) -> tuple[list[str], str | None]:
    """(names of the models it registered, None) or ([], the one-line error)."""
    from digitduel.errors import DigitduelError
    from digitduel.models.user import load_source

    try:
        specs = load_source(reference)
    except DigitduelError as err:
        return [], str(err)
    except Exception as err:  # noqa: BLE001 - anything else is still one line in the UI
        return [], f"{reference}: {type(err).__name__}: {err}".splitlines()[0]
    return [s.name for s in specs], None
