"""Shared test utilities (plain modules and fixtures imported explicitly by the test modules that need them)."""
