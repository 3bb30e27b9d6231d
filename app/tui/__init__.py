"""The Textual app: the timer, history and stats screens over the same services as the CLI."""
