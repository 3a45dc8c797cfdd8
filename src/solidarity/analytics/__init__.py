"""Population-wide analytics: Polars frames read in bulk from the database."""
