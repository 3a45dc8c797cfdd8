"""Request ids, structured JSON logs, and how infrastructure failures are reported."""
