"""Persistence: tables, the engine factory, repositories and migrations."""
