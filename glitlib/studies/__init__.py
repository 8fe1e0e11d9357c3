"""What the book runs on top of the search: ablations over seeds, truth tables of small
spaces, the head-distribution explorer and the replay of a recorded evolution."""
