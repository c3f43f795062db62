"""The set-up screen's pickers: the grouped model list and the schema-backed Input
validator. The devices this machine has come from `training.device.available_devices`."""

from __future__ import annotations

from textual.strip import Strip
from textual.validation import ValidationResult, Validator
from textual.widgets import OptionList, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

from digitduel.tui.form import field_message


class SchemaValidator(Validator):
    """An Input validator that asks the settings schema (check_field) about one key."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def validate(self, value: str) -> ValidationResult:
        message = field_message(self.key, value)
        return self.failure(message) if message else self.success()


class ModelList(SelectionList[str]):
    """Contestants grouped by report: a group's heading is a disabled option drawn without a
    checkbox (values starting with "@"); model options have the model's name as id."""

    def render_line(self, y: int) -> Strip:
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return super().render_line(y)
        if option.disabled:  # a heading: OptionList's plain line, no checkbox
            return OptionList.render_line(self, y).extend_cell_length(self.size.width)
        return super().render_line(y)

    def has_model(self, name: str) -> bool:
        try:
            self.get_option(name)
        except OptionDoesNotExist:
            return False
        return True

    def model_names(self) -> list[str]:
        return [o.value for o in self.options if not o.value.startswith("@")]
