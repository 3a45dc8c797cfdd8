"""Policy simulation: reform scenarios evaluated against a baseline over the whole registry."""
