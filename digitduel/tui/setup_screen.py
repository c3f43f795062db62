"""Set-up screen: pick contestants, fill the settings form, see the data source, start.

Torch, the registry and the data load lazily in thread workers after the screen is up, so
the app starts at once; parameter counts fill in as they are computed (once per process).
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from digitduel.tui.form import (
    FIELDS,
    PresetChoice,
    build_plan,
    format_value,
    parse_value,
    preset_choice,
)
from digitduel.tui.pickers import ModelList, SchemaValidator
from digitduel.tui.state import fmt_params
from digitduel.tui.widgets import FitLine, TitleBar

_PARAMS: dict[str, int] = {}  # model name -> parameter count, computed once per process


def model_groups(specs) -> list[tuple[str, str, list]]:
    """The list's groups: one per report, then "user models" (--model-file, ctrl+n, entry
    points), each (key, title, specs)."""
    from digitduel.models.registry import REPORTS

    groups = [
        (r, title, [s for s in specs if s.report == r and s.origin is None])
        for r, title in REPORTS.items()
    ]
    return [*groups, ("user", "user models", [s for s in specs if s.origin is not None])]


class SetupScreen(Screen):
    DEFAULT_CSS = """
    SetupScreen #body { height: 1fr; }
    SetupScreen #left { width: 40%; min-width: 30; }
    SetupScreen #models { height: 1fr; border: round $primary; padding: 0; }
    SetupScreen #form { width: 1fr; border: round $primary; padding: 0 1; }
    SetupScreen .row { height: 1; }
    SetupScreen .row Label { width: 14; }
    SetupScreen .row Input, SetupScreen .row Select { width: 1fr; max-width: 30; }
    SetupScreen .row Input.-invalid { background: $error 40%; }
    SetupScreen .msg { color: $error; height: auto; display: none; padding-left: 14; }
    SetupScreen .msg.shown { display: block; }
    SetupScreen #bottom { height: auto; padding: 0 1; }
    SetupScreen #what-row { height: auto; }
    SetupScreen #bottom FitLine { width: 1fr; color: $text-muted; }
    SetupScreen #status-note.empty { display: none; }
    SetupScreen #start { width: auto; min-width: 9; margin-left: 1; }
    """

    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+l", "load_preset", "Preset"),
        Binding("ctrl+o", "open_results", "Open results"),
        Binding("ctrl+t", "toggle_all", "All/none"),
        Binding("ctrl+n", "load_model_file", "Model file"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preset: PresetChoice | None = None
        self.registry_ready = False
        self.registry_error: str | None = None
        self.mnist: Any = None  # the loaded MnistData, handed to the bench
        self.data_line = "data: loading…"
        self.data_path: str | None = None  # shortened first when the data line is too long
        self.data_notes: list[str] = []
        self.problem: str | None = None  # why Start is disabled, or a plan error

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield ModelList(id="models")
            with VerticalScroll(id="form", can_focus=False):
                for f in FIELDS:
                    with Horizontal(classes="row", id=f"row-{f.key}"):
                        yield Label(f.label)
                        if f.kind == "choice":
                            yield Select(
                                [(c, c) for c in f.choices],
                                prompt=f.hint,
                                id=f"f-{f.key}",
                                compact=True,
                            )
                        else:
                            yield Input(
                                placeholder=f.hint,
                                id=f"f-{f.key}",
                                validators=[SchemaValidator(f.key)],
                                validate_on=["changed", "blur"],
                                compact=True,
                            )
                    yield Static("", id=f"m-{f.key}", classes="msg", markup=False)
                    if f.key == "executor":  # where the bench runs: together
                        yield from self._device_row()
        with Vertical(id="bottom"):  # the data line gets the full width, for its path
            with Horizontal(id="what-row"):
                yield FitLine("", id="status-what")
                yield Button("Start", id="start", variant="success", disabled=True, compact=True)
            yield FitLine(self.data_line, id="status-data")
            yield FitLine("", id="status-note", classes="empty")
        yield Footer()

    def _device_row(self) -> ComposeResult:
        with Horizontal(classes="row", id="row-device"):
            yield Label("device")
            yield Select(
                [("auto", "auto"), ("cpu", "cpu")],
                value="auto",
                id="f-device",
                allow_blank=False,
                compact=True,
            )

    def on_mount(self) -> None:
        self.query_one("#title", TitleBar).show("set-up: pick contestants, settings, ctrl+r")
        models = self.query_one("#models", ModelList)
        models.border_title = "contestants (space: pick)"
        form = self.query_one("#form", VerticalScroll)
        form.border_title = "settings (empty: model's recipe)"
        self.watch(form, "scroll_y", self.hint_hidden_fields, init=False)
        self.call_after_refresh(self.hint_hidden_fields)
        self.load_registry()
        self.load_data()
        self.refresh_state()

    # -- workers: registry, parameter counts, devices, data -----------------------------------
    @work(thread=True, exclusive=True, group="registry", exit_on_error=False)
    def load_registry(self) -> None:
        from digitduel.models.registry import list_specs
        from digitduel.training.device import available_devices  # torch: in the worker only

        specs = list_specs()
        self.app.call_from_thread(self._fill_models, model_groups(specs))
        if self.app.preset_arg:
            self.app.call_from_thread(self.apply_preset, self.app.preset_arg)
        self.app.call_from_thread(self._fill_devices, available_devices())
        for spec in specs:  # ~30 models: a few seconds in all, so after the list is usable
            self._count_params(spec.name)
            self.app.call_from_thread(self._show_params, spec.name)

    @work(thread=True, exclusive=True, group="data", exit_on_error=False)
    def load_data(self) -> None:
        from digitduel.data import load_mnist

        notes: list[str] = []
        app = self.app
        try:
            mnist = load_mnist(
                app.data_dir, offline=True if app.offline else None, on_note=notes.append
            )
        except Exception as err:  # DataError: shown, and the bench will say it again
            self.app.call_from_thread(self._show_data, None, f"data: {err}", notes)
            return
        self.app.call_from_thread(self._show_data, mnist, f"data: {mnist.describe()}", notes)

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.state == WorkerState.ERROR and event.worker.group == "registry":
            self.registry_error = f"model registry failed: {event.worker.error}"
            self.refresh_state()

    def _fill_models(self, groups) -> None:
        models = self.query_one("#models", ModelList)
        models.clear_options()
        for report, title, specs in groups:
            if not specs:
                continue
            models.add_option(Selection(f"── {title}", f"@{report}", disabled=True))
            for spec in specs:
                models.add_option(Selection(self._prompt(spec.name), spec.name, id=spec.name))
        self.registry_ready = True
        if self.focused is None or self.focused is models:
            models.focus()
            names = models.model_names()
            if names:
                models.highlighted = models.get_option_index(names[0])
        self.refresh_state()

    # -- user model files ---------------------------------------------------------------
    def action_load_model_file(self) -> None:
        from digitduel.tui.model_file_dialog import ModelFileDialog

        self.app.push_screen(ModelFileDialog(), self._model_file_given)

    def _model_file_given(self, reference: str | None) -> None:
        if reference:
            self.load_model_file(reference)

    @work(thread=True, exclusive=True, group="model-file", exit_on_error=False)
    def load_model_file(self, reference: str) -> None:
        """Load it off the UI thread (import and a dry forward/backward per model)."""
        from digitduel.tui.model_file_dialog import load_model_file

        names, error = load_model_file(reference)
        if error is not None:
            self.app.call_from_thread(self.notify, error, severity="error", timeout=10)
            return
        for name in names:
            self._count_params(name)
        self.app.call_from_thread(self._user_models_loaded, reference, names)

    def _count_params(self, name: str) -> None:
        from digitduel.models.registry import get_spec

        if name not in _PARAMS:
            try:
                _PARAMS[name] = get_spec(name).param_count()
            except Exception:  # noqa: BLE001 - shown as "…"; the bench says why
                pass

    def _user_models_loaded(self, reference: str, names: list[str]) -> None:
        """Rebuild the list with the "user models" group, keep the picks, pick the new."""
        from digitduel.models.registry import list_specs

        kept = self.picked()
        self._fill_models(model_groups(list_specs()))
        models = self.query_one("#models", ModelList)
        for name in [*kept, *names]:
            if models.has_model(name):
                models.select(name)
        self.notify(f"{reference}: {', '.join(names)} loaded and picked")

    def _prompt(self, name: str) -> str:
        # the count first: names run from 8 to ~40 characters, and a narrow list cuts the end
        return f"{fmt_params(_PARAMS.get(name)):>6}  {name}"

    def _show_params(self, name: str) -> None:
        models = self.query_one("#models", ModelList)
        if models.has_model(name):
            models.replace_option_prompt(name, self._prompt(name))

    def _fill_devices(self, devices: list[str]) -> None:
        select = self.query_one("#f-device", Select)
        wanted = self.app.device_arg or select.value
        select.set_options([(d, d) for d in devices])
        select.value = wanted if wanted in devices else "auto"

    def _show_data(self, mnist, line: str, notes: list[str]) -> None:
        self.mnist, self.data_line, self.data_notes = mnist, line, notes
        self.data_path = mnist.path if mnist is not None else None
        self.refresh_state()

    # -- what is below the fold ------------------------------------------------------------
    def hidden_fields(self) -> list[str]:
        """Labels of the form's rows below its visible part (a short terminal)."""
        form = self.query_one("#form", VerticalScroll)
        bottom = form.scroll_y + form.scrollable_content_region.height
        rows = form.query(".row")
        return [
            str(row.query_one(Label).render()) for row in rows if row.virtual_region.bottom > bottom
        ]

    def hint_hidden_fields(self, *_args) -> None:
        """Name what is below the fold in the form's bottom border, so a field nobody can see
        is not mistaken for a field that does not exist."""
        hidden = self.hidden_fields()
        form = self.query_one("#form", VerticalScroll)
        hint = ""
        if hidden:
            hint = f"↓ more: {', '.join(hidden)}"
            if len(hint) > form.size.width - 6:
                hint = f"↓ {len(hidden)} more below (scroll)"
        form.border_subtitle = hint

    def on_resize(self) -> None:
        self.call_after_refresh(self.hint_hidden_fields)

    def show_status(self, what: str, note: str | None = None) -> None:
        """The status block: what Start would do (or why it cannot), the data source (its
        path shortened in the middle to fit), the data's last note if any."""
        self.query_one("#status-what", FitLine).show_text(what)
        self.query_one("#status-data", FitLine).show_text(self.data_line, self.data_path)
        note_line = self.query_one("#status-note", FitLine)
        note_line.show_text(note or "")
        note_line.set_class(not note, "empty")

    # -- the form ------------------------------------------------------------------------
    def form_values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(typed values, messages of invalid fields) of every form field."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in FIELDS:
            if f.kind == "choice":
                v = self.query_one(f"#f-{f.key}", Select).value
                values[f.key] = None if v is Select.NULL else v
                continue
            text = self.query_one(f"#f-{f.key}", Input).value
            try:
                values[f.key] = parse_value(f.key, text)
            except ValueError as err:
                errors[f.key] = str(err)
        return values, errors

    def picked(self) -> list[str]:
        chosen = self.query_one("#models", ModelList).selected
        return [m for m in chosen if not m.startswith("@")]

    def refresh_state(self) -> None:
        """Field messages, the status lines and whether Start is enabled."""
        _values, errors = self.form_values()
        for f in FIELDS:
            msg = self.query_one(f"#m-{f.key}", Static)
            text = errors.get(f.key)
            msg.update(f"{f.label}: {text}" if text else "")
            msg.set_class(bool(text), "shown")
        picked = self.picked()
        if self.registry_error:
            self.problem = self.registry_error
        elif not self.registry_ready:
            self.problem = "loading the model registry…"
        elif errors:
            first = next(iter(errors))
            self.problem = f"fix {first}: {errors[first]}"
        elif not picked:
            self.problem = "pick at least one contestant"
        else:
            self.problem = None
        self.query_one("#start", Button).disabled = self.problem is not None
        preset = ""
        if self.preset and set(picked) == set(self.preset.models):
            preset = f"preset {self.preset.name}; "
        elif self.preset:  # build_plan then uses the picked models' recipes + the form
            preset = f"not preset {self.preset.name} (other picks): recipes + form; "
        what = self.problem or f"{preset}{len(picked)} picked: ctrl+r starts"
        self.show_status(what, self.data_notes[-1] if self.data_notes else None)
        self.call_after_refresh(self.hint_hidden_fields)  # the status may have grown

    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def _changed(self) -> None:
        self.refresh_state()

    # -- presets -------------------------------------------------------------------------
    def apply_preset(self, name_or_path: str) -> None:
        """Fill the form and the selection from a preset (ConfigError: shown, form kept)."""
        try:
            choice = preset_choice(name_or_path)
        except Exception as err:  # ConfigError: a bad preset file is one line
            self.notify(str(err), severity="error", timeout=8)
            return
        self.preset = choice
        for f in FIELDS:
            value = choice.values.get(f.key)
            if f.kind == "choice":
                select = self.query_one(f"#f-{f.key}", Select)
                if value is None:
                    select.clear()
                else:
                    select.value = value
            else:
                self.query_one(f"#f-{f.key}", Input).value = format_value(f.key, value)
        models = self.query_one("#models", ModelList)
        if not all(models.has_model(m) for m in choice.models):  # its model_files' models
            from digitduel.models.registry import list_specs

            self._fill_models(model_groups(list_specs()))
        models.deselect_all()
        missing = []
        for m in choice.models:
            if models.has_model(m):
                models.select(m)
            else:
                missing.append(m)
        if missing:
            self.notify(f"preset models not registered: {', '.join(missing)}", severity="warning")
        self.notify(f"preset {choice.name} loaded")
        self.refresh_state()

    def action_load_preset(self) -> None:
        from digitduel.tui.dialogs import PresetDialog

        self.app.push_screen(PresetDialog(), self._preset_picked)

    def _preset_picked(self, name: str | None) -> None:
        if name:
            self.apply_preset(name)

    def action_open_results(self) -> None:
        self.app.action_open_results()

    def action_toggle_all(self) -> None:
        models = self.query_one("#models", ModelList)
        if self.picked():
            models.deselect_all()
        else:
            for name in models.model_names():
                models.select(name)

    # -- start ---------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        self.refresh_state()
        if self.problem is not None:
            self.notify(self.problem, severity="warning")
            return
        values, _ = self.form_values()
        self.query_one("#start", Button).disabled = True
        self.query_one("#status-what", FitLine).show_text("preparing the bench…")
        device = str(self.query_one("#f-device", Select).value)
        self.prepare_plan(self.picked(), values, device)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def prepare_plan(self, models: list[str], values: dict[str, Any], device: str) -> None:
        """Build the plan off the UI thread: the first one imports the engine and runs a
        two-sample forward per contestant (the model/loss check), a second or two."""
        app = self.app
        try:
            plan = build_plan(
                models,
                values,
                device=device,
                preset=self.preset,
                data_dir=app.data_dir,
                offline=app.offline,
            )
        except Exception as err:  # ConfigError (e.g. a model/loss mismatch): one line
            app.call_from_thread(self._cannot_start, str(err))
            return
        app.call_from_thread(app.start_bench, plan, self.mnist, self.data_notes)
        app.call_from_thread(self.refresh_state)

    def _cannot_start(self, message: str) -> None:
        self.refresh_state()
        self.query_one("#status-what", FitLine).show_text(f"cannot start: {message}")
        self.notify(message, severity="error", timeout=10)
