"""Shared contracts and helpers of every stage: model, config, errors, state, text safety."""
