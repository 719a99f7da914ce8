"""Stage 1, scan: an inventory of where service-account keys are stored and used."""
