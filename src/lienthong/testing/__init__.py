"""Test support shared by every app: fixtures, factories, the browser harness."""
