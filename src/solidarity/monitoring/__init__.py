"""Monitoring and evaluation: indicators as data, snapshots, data quality, system KPIs."""
