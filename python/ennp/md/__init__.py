"""Production MD of large systems in checkpointed segments (``ennp md``)."""
