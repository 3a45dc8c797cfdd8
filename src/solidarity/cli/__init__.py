"""The root command line."""
