"""Programmes: design, rules as data, eligibility, enrolment, payment cycles, reconciliation."""
