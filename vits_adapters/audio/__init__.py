"""Waveforms (checks, WAV files), spectrograms and log-mel features."""
