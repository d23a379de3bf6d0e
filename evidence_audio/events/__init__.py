"""Distress events: scream, shout and cry sounds, and distress words in the transcript."""
