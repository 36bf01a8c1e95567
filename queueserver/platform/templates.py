"""The one way a Jinja2 environment is made: the screens' (`web/templating.py`) and the emails'
(`appointments/mail.py`, in the worker, which never imports the web layer) share it.

Templates come from the `templates/` folder (package data). Undefined names raise, so a
misspelt variable fails a test instead of printing nothing. Autoescape is on for HTML (a name
typed by a person is never markup) and off for plain text, where there is no markup to escape.
"""

from __future__ import annotations

from importlib import resources

import jinja2


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("queueserver.templates"))),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "xml", "svg"),
                                            default_for_string=True, default=False),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
