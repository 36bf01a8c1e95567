"""The screens' Jinja2 environment: every page, the supervisor's report and the receipt slip,
made as every environment is (`platform/templates.py`: autoescape, undefined names raise).
"""

from __future__ import annotations

from typing import Any

from queueserver.platform.templates import environment


def _minutes(seconds: float | int | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


TEMPLATES = environment()
TEMPLATES.filters["minutes"] = _minutes
TEMPLATES.filters["share"] = _share


def render(template: str, **context: Any) -> str:
    return TEMPLATES.get_template(template).render(**context)
