"""Writes of the distillation pipeline: a run's life (runs), its stages (synthesis, mining,
stages) and the next round (next_round); typed functions named <noun>_<verb>. Nothing is
re-exported here, so importing one module does not load the training stack."""
