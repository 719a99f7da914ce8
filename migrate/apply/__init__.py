"""Stage 3, apply: run a plan's actions through their executors, journaled."""
