"""The screens: timer, history, stats and the small dialogs."""
