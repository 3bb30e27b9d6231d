"""Pure rules of Focus: sessions, timer semantics, rewards, levels and streaks (no I/O)."""
