"""Training data and nequip-train configurations."""
