"""Active learning: ensemble training, exploration, selection, labelling."""
