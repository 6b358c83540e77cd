"""Form pieces both faces use. Every form is a `TextForm`: it reads typed text only. Every text
field gets `Readable`: trimmed, length-capped, and free of NUL bytes, control and text-direction
characters (DESIGN I11)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import Field, Form
from wtforms.validators import ValidationError

from impersonator.services.errors import InvalidInput
from impersonator.services.validation import clean_text, normalise_email
from impersonator.web import ExplainedBadRequest


class TextForm(FlaskForm):
    """The base of every form of both faces: its fields take text, and only text.

    Flask-WTF hands a form the request's file parts along with its text ones (and the values of a
    JSON body, which may be numbers or lists), so a script posting `password` as a file part would
    give the validators a FileStorage. Here anything that is not text never reaches a field, and
    validating such a form answers 400 with a page naming the field: no browser sends a file for a
    text box, and not every form's page has a place to show an error on every field."""

    _not_text: tuple[str, ...] = ()  # names of the parts that were not text, in the order sent

    class Meta:
        def wrap_formdata(self, form: TextForm, formdata):
            formdata = super().wrap_formdata(form, formdata)
            if formdata is None:
                return None
            text, form._not_text = MultiDict(), ()
            for name, value in formdata.items(multi=True):
                if isinstance(value, str):
                    text.add(name, value)
                else:
                    form._not_text += (name,)
            return text

    def validate(self, extra_validators=None) -> bool:
        """Refuse the whole form if a field was sent as something other than text, else validate."""
        for field in self:
            if field.name in self._not_text:
                raise ExplainedBadRequest(f"{field.label.text} must be typed text, not a file.")
        return super().validate(extra_validators)


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
