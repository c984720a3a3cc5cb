"""``ennp submit``: a plan of Slurm jobs with dependencies, recorded, watched and repaired."""
