"""`defkit plan`: which builds the caches lack, in dependency order, for CI and Slurm.

`graph.py` finds the builds and the order they must run in (a def whose `Bootstrap:
localimage` reads another planned build's output depends on it); `probe.py` keys each build
with the engine's own key code (what `defkit build --explain-key` prints) and asks the local
store and the registry caches; `formats.py` writes the misses as a GitHub Actions matrix, a
GitLab child pipeline, a Slurm submission script, or JSON.
"""
