"""maildiag."""
