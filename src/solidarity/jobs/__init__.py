"""Durable background jobs recorded in the database and run by ``solidarity worker``."""
