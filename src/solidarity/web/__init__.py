"""The web application: API, DCI later, and server-rendered pages."""
