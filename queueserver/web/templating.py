"""The one Jinja2 environment: every page, the supervisor's report and the receipt slip.

Autoescape is on for every template, so a name or a number typed by a person is never markup;
undefined names raise, so a misspelt variable fails a test instead of printing nothing.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import jinja2


def _minutes(seconds: float | int | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(resources.files("queueserver.templates"))),
    autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["minutes"] = _minutes
TEMPLATES.filters["share"] = _share


def render(template: str, **context: Any) -> str:
    return TEMPLATES.get_template(template).render(**context)
