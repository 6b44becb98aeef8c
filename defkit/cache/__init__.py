"""The content-addressed build cache (issue #14): keys (key.py, tree.py), the local store
(store.py) and the engine's hook (hook.py)."""
