"""Vibrations of supported flakes (MD, per-atom amplitudes vs edge distance) and HR-TEM."""
