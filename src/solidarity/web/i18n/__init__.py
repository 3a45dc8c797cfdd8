"""Languages of the web pages: gettext catalogues, the language cookie, Babel formatting.

The catalogues live beside this module (``<lang>/LC_MESSAGES/messages.po`` and the
compiled ``.mo``, both committed). After changing a template or a page module,
refresh them without make (see docs/web.md), from ``src/solidarity/web``::

    pybabel extract -F i18n/babel.cfg -o i18n/messages.pot .
    pybabel update -i i18n/messages.pot -d i18n
    pybabel compile -d i18n
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from markupsafe import Markup

LOCALE_DIR = Path(__file__).parent
#: Languages offered, in the order the switch shows them, with their own names.
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "solidarity_lang"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of ``language`` (English text when there is none)."""
    return gettext_module.translation(
        "messages", localedir=LOCALE_DIR, languages=[language], fallback=True
    )


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: the cookie's choice, else the browser's, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Locale:
    """Translation and formatting functions of one language, handed to the templates."""

    language: str

    @property
    def _catalogue(self) -> gettext_module.NullTranslations:
        return translations(self.language)

    def gettext(self, message: str, **variables: Any) -> str:
        """Translate ``message`` and fill its ``%(name)s`` placeholders."""
        text = self._catalogue.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        """Translate a message that depends on a count (``%(num)s`` is the count)."""
        text = self._catalogue.ngettext(singular, plural, n)
        return text % {"num": n, **variables}

    def template_functions(self) -> dict[str, Callable[..., Any]]:
        """``_``, ``gettext`` and ``ngettext`` as Jinja2's new-style i18n expects them."""
        catalogue = self._catalogue

        def template_gettext(message: str, **variables: Any) -> Markup:
            return Markup(catalogue.gettext(message)) % variables

        def template_ngettext(singular: str, plural: str, n: int, **variables: Any) -> Markup:
            variables.setdefault("num", n)
            return Markup(catalogue.ngettext(singular, plural, n)) % variables

        return {"_": template_gettext, "gettext": template_gettext, "ngettext": template_ngettext}

    def date(self, value: date | datetime | str | None, format: str = "medium") -> str:
        """A date in this language's usual form (``-`` when absent)."""
        if value is None or value == "":
            return "-"
        if isinstance(value, str):
            try:
                # A bare day ("2025-06-30") stays a date, not midnight of that day.
                value = (
                    date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
                )
            except ValueError:
                return str(value)
        if isinstance(value, datetime):
            return babel_dates.format_datetime(value, format=format, locale=self.language)
        return babel_dates.format_date(value, format=format, locale=self.language)

    def number(self, value: float | int | None, digits: int | None = None) -> str:
        """A number with this language's separators (``-`` when absent)."""
        if value is None:
            return "-"
        if digits is not None:
            pattern = "#,##0" + ("." + "0" * digits if digits else "")
            return babel_numbers.format_decimal(value, format=pattern, locale=self.language)
        return babel_numbers.format_decimal(value, locale=self.language)

    def money(self, value: float | int | None, currency: str | None = None) -> str:
        """An amount, with its currency when known (``-`` when absent)."""
        if value is None:
            return "-"
        if currency:
            return babel_numbers.format_currency(value, currency, locale=self.language)
        return self.number(value, 2)

    def percent(self, value: float | None) -> str:
        """A share between 0 and 1 as a percentage (``-`` when absent)."""
        if value is None:
            return "-"
        return babel_numbers.format_percent(value, format="#,##0.0%", locale=self.language)
