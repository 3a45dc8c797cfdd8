"""The social registry: areas, households, persons, identifiers, history and intake."""
