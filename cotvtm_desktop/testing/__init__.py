"""Helpers that let anyone smoke-test the neural path without downloading weights."""
