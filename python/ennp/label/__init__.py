"""Labelling structures with energies, forces and stresses (DFT or a stand-in)."""
