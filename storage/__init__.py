"""Persistence: tables, the engine factory, the stores and migrations."""
