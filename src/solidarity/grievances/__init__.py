"""Grievance redress, case management and referrals across sectors.

Three sub-domains share this package: ``service`` (grievances and appeals),
``cases`` (case management) and ``referrals`` (the service catalogue, suggested
referrals and the referral life-cycle). Every step of each is written to one
event table (``redress_event``) with its actor and time.
"""
