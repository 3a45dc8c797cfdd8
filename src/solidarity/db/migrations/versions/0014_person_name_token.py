"""the name tokens of active persons, one row each, kept by triggers (PostgreSQL)

A search by a common family name matched tens of thousands of persons through
the trigram index on ``person.name_index`` and read every one of them to find
the first 20 households (400 ms at 1M persons, most of the database's time
under load). ``person_name_token`` holds each name token's blind index with the
household, person and area of every active person, keyed by (token, household,
person, area; the area so that the table can be partitioned or distributed by
area like the registry): the first households with a token, and a capped count
of them, come from the index in order. Statement-level triggers on ``person`` keep it (inserts,
COPY, updates of names, household, area or status, deletes, truncation), so every
writer is covered without knowing of it. SQLite has no such table; its searches
keep matching ``name_index`` (decision 0006).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A name token's blind index (16 hex digits) as the signed 64-bit key stored.
_KEY = "('x' || token)::bit(64)::bigint"

#: The (token, household, person, area) rows of the active persons of ``rows``
#: (alias r). ``name_index`` holds each token once (a set), so there is no DISTINCT
#: here: a writer that repeated a token would fail on the key, not lose a token.
_TOKENS = f"""
    SELECT {_KEY}, r.household_id, r.id, r.area_id
    FROM {{rows}} r CROSS JOIN LATERAL unnest(string_to_array(btrim(r.name_index), ' ')) AS token
    WHERE r.status = 'active' AND token <> ''
"""

#: Whether an updated row's token rows may differ (``r`` one side, ``other`` the other).
_CHANGED = """
    AND EXISTS (SELECT 1 FROM {other} x WHERE x.id = r.id AND (
        x.name_index IS DISTINCT FROM r.name_index
        OR x.household_id IS DISTINCT FROM r.household_id
        OR x.area_id IS DISTINCT FROM r.area_id
        OR x.status IS DISTINCT FROM r.status))
"""

#: Delete the token rows of ``rows`` (``condition`` narrows them).
_DELETE = """
    DELETE FROM person_name_token t
    USING ({tokens} {condition}) AS g (token, household_id, id, area_id)
    WHERE t.token = g.token AND t.household_id = g.household_id AND t.person_id = g.id
      AND t.area_id = g.area_id
"""

UPGRADE = [
    # No person is written between the backfill and the triggers (until commit).
    "LOCK TABLE person IN SHARE ROW EXCLUSIVE MODE",
    """
    CREATE TABLE person_name_token (
        token bigint NOT NULL,
        household_id integer NOT NULL,
        person_id integer NOT NULL,
        area_id integer NOT NULL,
        CONSTRAINT pk_person_name_token PRIMARY KEY (token, household_id, person_id, area_id)
    )
    """,
    f"""
    CREATE FUNCTION person_name_token_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO person_name_token (token, household_id, person_id, area_id)
        {_TOKENS.format(rows="new_rows")};
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION person_name_token_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {
        _DELETE.format(
            tokens=_TOKENS.format(rows="old_rows"), condition=_CHANGED.format(other="new_rows")
        )
    };
        INSERT INTO person_name_token (token, household_id, person_id, area_id)
        {_TOKENS.format(rows="new_rows")} {_CHANGED.format(other="old_rows")};
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION person_name_token_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_DELETE.format(tokens=_TOKENS.format(rows="old_rows"), condition="")};
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION person_name_token_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE person_name_token;
        RETURN NULL;
    END $$
    """,
    # DISTINCT: the application writes each token once, other writers may not have.
    f"INSERT INTO person_name_token (token, household_id, person_id, area_id) "
    f"SELECT DISTINCT * FROM ({_TOKENS.format(rows='person')}) AS backfill",
    """
    CREATE TRIGGER person_name_token_insert AFTER INSERT ON person
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION person_name_token_inserted()
    """,
    """
    CREATE TRIGGER person_name_token_update AFTER UPDATE ON person
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION person_name_token_updated()
    """,
    """
    CREATE TRIGGER person_name_token_delete AFTER DELETE ON person
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION person_name_token_deleted()
    """,
    """
    CREATE TRIGGER person_name_token_truncate AFTER TRUNCATE ON person
    FOR EACH STATEMENT EXECUTE FUNCTION person_name_token_truncated()
    """,
    "ANALYZE person_name_token",
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS person_name_token_truncate ON person",
    "DROP TRIGGER IF EXISTS person_name_token_delete ON person",
    "DROP TRIGGER IF EXISTS person_name_token_update ON person",
    "DROP TRIGGER IF EXISTS person_name_token_insert ON person",
    "DROP FUNCTION IF EXISTS person_name_token_truncated()",
    "DROP FUNCTION IF EXISTS person_name_token_deleted()",
    "DROP FUNCTION IF EXISTS person_name_token_updated()",
    "DROP FUNCTION IF EXISTS person_name_token_inserted()",
    "DROP TABLE IF EXISTS person_name_token",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
