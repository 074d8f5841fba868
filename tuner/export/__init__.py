"""Export: accepted proposals as a reviewable unified diff of popoto's ``fields/constants.py``
(``tuner export``); tuner never writes popoto's files."""
