"""Service error messages in the reader's language.

Domain services raise typed errors whose messages are plain English (a service
knows nothing of languages, and the API and CLI show them as they are). Pages
translate them here: each message shape a service writes is a pattern whose
named parts fill a translatable template of the web catalogue. A message of an
unknown shape is shown as the service wrote it, so nothing is ever hidden.

Parts named ``kind``, ``status`` or ``codelist`` are codes and are translated
too (the catalogue has them); other parts (numbers, values, field names) are
shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from solidarity.web.i18n import Locale


def _(message: str) -> str:
    """Marks a template for extraction; it is translated when a message is shown."""
    return message


#: (pattern the service's message matches in full, template of the catalogue).
_SHAPES: tuple[tuple[str, str], ...] = (
    # field values (registry validation, imports, change requests)
    (r"is required", _("is required")),
    (r"must be text", _("must be text")),
    (r"must be true or false", _("must be true or false")),
    (r"must be a whole number", _("must be a whole number")),
    (r"must be a number", _("must be a number")),
    (r"must be a date YYYY-MM-DD", _("must be a date YYYY-MM-DD")),
    (r"must be a code", _("must be a code")),
    (r"unknown field", _("unknown field")),
    (r"must be at most (?P<n>[\d.,]+) characters", _("must be at most %(n)s characters")),
    (r"must be at least (?P<n>-?[\d.,e+]+)", _("must be at least %(n)s")),
    (r"must be at most (?P<n>-?[\d.,e+]+)", _("must be at most %(n)s")),
    (
        r"(?P<value>.+) is not in code list (?P<codelist>\w+) \((?P<allowed>.*)\)",
        _("%(value)s is not in the code list %(codelist)s (%(allowed)s)"),
    ),
    (r"birth date is in the future", _("birth date is in the future")),
    (
        r"birth date makes the person older than (?P<n>\d+) years",
        _("birth date makes the person older than %(n)s years"),
    ),
    # change requests
    (r"must be a person id \(a whole number\)", _("must be a person id (a whole number)")),
    (r"no such person", _("no such person")),
    (
        r"is not an active member of household (?P<id>\d+)",
        _("is not an active member of household %(id)s"),
    ),
    (
        r"must be one of the (?P<codelist>\w+) codes \((?P<allowed>.*)\)",
        _("must be one of the %(codelist)s codes (%(allowed)s)"),
    ),
    (
        r"a household has one head; use a change_head request",
        _("a household has one head; use a change of head request"),
    ),
    (r"use a move_household change request", _("use a move request")),
    (r"use a change_head request", _("use a change of head request")),
    (
        r"the head's relationship changes only through change_head",
        _("the head's relationship changes only through a change of head request"),
    ),
    (
        r"nothing to change: give household and/or person fields",
        _("nothing to change: give household and/or member fields"),
    ),
    (r"already held by person (?P<id>\d+)", _("already held by person %(id)s")),
    (r"given twice in this request", _("given twice in this request")),
    (r"must be text of 1 to 128 characters", _("must be text of 1 to 128 characters")),
    (r"is required: the new member's fields", _("is required: the new member's fields")),
    (
        r"a household has one head; add the member, then file a change_head request",
        _("a household has one head; add the member, then file a change of head request"),
    ),
    (
        r"is required when the head leaves and members remain",
        _("is required when the head leaves and members remain"),
    ),
    (r"must be another member", _("must be another member")),
    (r"only when the member removed is the head", _("only when the member removed is the head")),
    (r"is already the head", _("is already the head")),
    (r"must be an area code", _("must be an area code")),
    (r"unknown area code", _("unknown area code")),
    (r"the household is already in this area", _("the household is already in this area")),
    (r"must be a non-empty list of person ids", _("choose at least one member")),
    (r"lists a person twice", _("lists a person twice")),
    (
        r"the original household must keep at least one member",
        _("the original household must keep at least one member"),
    ),
    (r"must be one of person_ids", _("must be one of the members who leave")),
    (r"must stay in the original household", _("must stay in the original household")),
    (r"only when the head leaves", _("only when the head leaves")),
    (r"is the new head", _("is the new head")),
    (r"must be a household id", _("must be a household number")),
    (r"a household cannot absorb itself", _("a household cannot absorb itself")),
    (r"no such household", _("no such household")),
    (r"household is (?P<status>\w+)", _("the household is %(status)s")),
    (r"household (?P<id>\d+) not found", _("household %(id)s not found")),
    (r"unknown key for this kind of change", _("unknown key for this kind of change")),
    (
        r"(?P<kind>\w+) change to household (?P<id>\d+) refused: (?P<n>\d+) error\(s\)",
        _("%(kind)s of household %(id)s refused: %(n)s error(s)"),
    ),
    (
        r"household (?P<id>\d+) is (?P<status>\w+); only active households change",
        _("household %(id)s is %(status)s; only active households change"),
    ),
    (
        r"household (?P<id>\d+) is at version (?P<now>\d+), this change was prepared against "
        r"version (?P<then>\d+); read it again and refile",
        _(
            "household %(id)s is at version %(now)s, this change was prepared against "
            "version %(then)s; read it again and refile"
        ),
    ),
    (
        r"household (?P<id>\d+) or one of its members changed meanwhile; refile",
        _("household %(id)s or one of its members changed meanwhile; refile"),
    ),
    (
        r"household (?P<id>\d+) would have (?P<n>\d+) active heads; exactly one is required "
        r"\(file a change_head request first\)",
        _(
            "household %(id)s would have %(n)s active heads; exactly one is required "
            "(file a change of head request first)"
        ),
    ),
    (r"a rejection needs a reason", _("a rejection needs a reason")),
    (
        r"(?P<actor>\S+) filed change request (?P<id>\d+) and cannot also decide it "
        r"\(maker-checker\)",
        _("%(actor)s filed change request %(id)s and cannot also decide it (maker-checker)"),
    ),
    (
        r"change request (?P<id>\d+) is (?P<status>\w+); only submitted requests can be decided",
        _("change request %(id)s is %(status)s; only submitted requests can be decided"),
    ),
    # rules
    (r"the rule is empty", _("the rule is empty")),
    (
        r"the rule ends too early; expected (?P<expected>.+)",
        _("the rule ends too early; expected %(expected)s"),
    ),
    (r"the rule ends too early", _("the rule ends too early")),
    (
        r"unexpected (?P<token>'[^']*'|\"[^\"]*\"); expected (?P<expected>.+)",
        _("unexpected %(token)s; expected %(expected)s"),
    ),
    (r"unexpected (?P<token>'[^']*'|\"[^\"]*\")", _("unexpected %(token)s")),
    (r"unexpected character (?P<token>.+)", _("unexpected character %(token)s")),
    (
        r"unknown (?P<level>\w+) field '(?P<name>[^']+)'(?P<rest>.*)",
        _("unknown %(level)s field '%(name)s'%(rest)s"),
    ),
    (r"unknown name '(?P<name>[^']+)'", _("unknown name '%(name)s'")),
    (r"unknown parameter '(?P<name>[^']+)'(?P<rest>.*)", _("unknown parameter '%(name)s'%(rest)s")),
    (r"division by zero", _("division by zero")),
    (
        r"arithmetic on yes/no values is not allowed",
        _("arithmetic on yes/no values is not allowed"),
    ),
    # imports
    (
        r"(?P<n>\d+) error\(s\); nothing was imported",
        _("%(n)s error(s); nothing was imported"),
    ),
    # coherence action plan
    (
        r"action (?P<code>\S+) is at version (?P<now>\d+), not (?P<then>\d+): read it again",
        _("action %(code)s is at version %(now)s, not %(then)s: read it again"),
    ),
    (r"action '(?P<code>[^']+)' already exists", _("action %(code)s already exists")),
    (r"no action has the code '(?P<code>[^']+)'", _("no action has the code %(code)s")),
)
_COMPILED = tuple((re.compile(pattern), template) for pattern, template in _SHAPES)
#: Parts that are codes of the catalogue, translated themselves.
_CODES = {"kind", "status", "codelist", "level"}


def translate(message: str, locale: Locale) -> str:
    """``message`` (a service's English text) in ``locale``'s language when its shape is known."""
    text = message.strip()
    for pattern, template in _COMPILED:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        parts = {
            name: (locale.gettext(value) if name in _CODES else value)
            for name, value in found.groupdict().items()
        }
        return locale.gettext(template, **parts) if parts else locale.gettext(template)
    return message


def translate_errors(errors: Iterable[Any], locale: Locale) -> list[Any]:
    """Error entries (field, value, message) with each message translated."""
    return [
        {**error, "message": translate(str(error.get("message", "")), locale)}
        if isinstance(error, Mapping)
        else error
        for error in errors
    ]


def templates() -> list[str]:
    """Every template (for tests that check the French catalogue covers them)."""
    return [template for _pattern, template in _SHAPES]
