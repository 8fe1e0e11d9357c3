"""What the book runs on top of the search: ablations over seeds, truth tables of small
spaces, the head-distribution explorer, the replay of a recorded evolution, and their
static versions for the book's web page."""
