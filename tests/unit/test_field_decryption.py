"""A column decrypted at once gives what value-by-value decryption gives, errors included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solidarity.governance.encryption import FieldKeyError, KeyRing

RING = KeyRing.generate("unused")


@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=30))
def test_a_column_decrypts_like_each_value(values: list[str | None]) -> None:
    tokens = [None if v is None else RING.encrypt(v, "person.given_name") for v in values]
    assert RING.decrypt_many(tokens, "person.given_name") == values
    assert [RING.decrypt(t, "person.given_name") for t in tokens] == values


def test_an_altered_or_misplaced_value_fails_as_alone() -> None:
    good = RING.encrypt("Amina", "person.given_name")
    kid, _, body = good.partition(":")
    altered = f"{kid}:{body[:-3]}{'A' if body[-3] != 'A' else 'B'}{body[-2:]}"
    for tokens, field in (
        ([good, altered], "person.given_name"),  # altered
        ([good], "person.family_name"),  # sealed for another field
        (["nokey:AAAA"], "person.given_name"),  # a key not in the ring
        (["Amina"], "person.given_name"),  # plaintext where a sealed value belongs
    ):
        with pytest.raises(FieldKeyError):
            RING.decrypt_many(tokens, field)


def test_a_value_only_pythons_lenient_base64_reads_still_decrypts() -> None:
    """Polars' base64 refuses what ``decrypt`` accepts (a line break): the column agrees."""
    kid, _, body = RING.encrypt("Amina", "person.given_name").partition(":")
    wrapped = f"{kid}:{body[:8]}\n{body[8:]}"
    assert RING.decrypt(wrapped, "person.given_name") == "Amina"
    assert RING.decrypt_many([wrapped, None], "person.given_name") == ["Amina", None]


def test_a_column_under_two_keys_decrypts_each_value_under_its_own() -> None:
    """Mid-rotation a column holds values under the old and the new data key."""
    from dataclasses import replace

    old = RING.active_data
    rotated = replace(RING, data_keys={**RING.data_keys, "enew": bytes(32)}, active_data="enew")
    tokens = [
        RING.encrypt("Amina", "person.given_name"),
        None,
        rotated.encrypt("Baraka", "person.given_name"),
        RING.encrypt("Chausiku", "person.given_name"),
    ]
    assert rotated.key_of(str(tokens[2])) == "enew" != rotated.key_of(str(tokens[0])) == old
    assert rotated.decrypt_many(tokens, "person.given_name") == [
        "Amina",
        None,
        "Baraka",
        "Chausiku",
    ]
    with pytest.raises(FieldKeyError):
        RING.decrypt_many(tokens, "person.given_name")  # the old ring lacks the new key
