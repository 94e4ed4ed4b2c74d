"""The admin server: console, API and metrics on an origin of their own (issue 16)."""
