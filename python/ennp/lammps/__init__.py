"""Running LAMMPS (MPI) and reading what it writes."""
