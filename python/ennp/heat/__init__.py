"""Electron-beam heating of supported nanoparticles: NEMD interfacial conductance,
vibrational densities of states, EELS analysis and the beam-heating model."""
