"""Form pieces both faces use. Every text field gets `Readable`: trimmed, length-capped, and free
of NUL bytes, control and text-direction characters (DESIGN I11)."""

from __future__ import annotations

from wtforms import Field, Form
from wtforms.validators import ValidationError

from impersonator.services.errors import InvalidInput
from impersonator.services.validation import clean_text, normalise_email


class Readable:
    """Refuse text we cannot safely keep, with a message that says what to fix."""

    def __init__(
        self, label: str, max_length: int, *, required: bool = True, allow_newlines: bool = False
    ) -> None:
        self.label, self.max_length = label, max_length
        self.required, self.allow_newlines = required, allow_newlines
        self.field_flags = {"required": required, "maxlength": max_length}

    def __call__(self, form: Form, field: Field) -> None:
        try:
            field.data = clean_text(
                field.data,
                self.label,
                max_length=self.max_length,
                required=self.required,
                allow_newlines=self.allow_newlines,
            )
        except InvalidInput as problem:
            _forget_if_unreadable(field, problem)
            raise ValidationError(problem.message) from None


def _forget_if_unreadable(field: Field, problem: InvalidInput) -> None:
    """Text refused for its characters is not shown back in the field: the page says what to fix."""
    if problem.reason in {"bad_characters", "too_long"}:
        field.data = ""


class EmailAddress:
    """An email address, normalised to lower case."""

    field_flags = {"required": True, "maxlength": 254}

    def __call__(self, form: Form, field: Field) -> None:
        try:
            field.data = normalise_email(field.data)
        except InvalidInput as problem:
            _forget_if_unreadable(field, problem)
            raise ValidationError(problem.message) from None


class Password:
    """A password is taken as typed (no trimming), but not empty, endless or with NUL bytes."""

    field_flags = {"required": True, "maxlength": 1024}

    def __call__(self, form: Form, field: Field) -> None:
        value = field.data or ""
        if not value:
            raise ValidationError("Password is required.")
        if len(value) > 1024:
            raise ValidationError("Password must be at most 1024 characters.")
        if "\x00" in value:
            raise ValidationError("Password contains a NUL byte; please remove it.")
