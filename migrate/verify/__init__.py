"""Stage 4, verify: merged merge requests and jobs signing in through federation."""
