"""Turn nequip checkpoints/packages into files the LAMMPS plugin loads."""
