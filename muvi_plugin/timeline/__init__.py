"""Score ranges of OpenTimelineIO timelines and write new timelines with the music on them (README.md).

Modules: `source` (read a timeline, resolve its media), `ranges` (what to score), `picture` (the frames on
screen), `writing` (the new timeline), `score` (all of it for one timeline), `batch` (many timelines).
"""
