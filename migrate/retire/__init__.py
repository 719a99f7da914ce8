"""Stage 5, retire: key disable/delete/rollback behind evidence gates."""
