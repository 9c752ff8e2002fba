"""Tests for Cầu Nối; the fake Bot API server lives here too."""
