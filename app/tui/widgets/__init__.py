"""Widgets the screens are built from: countdown, summary cards, charts, history table."""
