"""One module per verb; each has `register(subparsers, help)` and sets `func` on its parser."""
