"""Coherence diagnostics: overlaps, gaps, money, journeys, rules, institutions and the plan."""
