"""Governance: users, roles and scopes, sign-in, machine clients, audit trail, agreements."""
