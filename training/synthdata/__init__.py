"""Synthetic paired training data: music21 corpus pieces rendered with FluidSynth, and videos drawn from
the music's own events (cuts on phrase boundaries, impacts on drum hits, motion on the beat). See README.md.
"""
