"""The recipe catalogue (`recipes/`, shipped in the wheel as `defkit/recipes`): families of
definition files, each a Jinja2 template and a YAML file of variables and a matrix.

`family.py` finds and reads families, `matrix.py` expands a matrix into points (GitHub
Actions' rules for `exclude` and `include`), `render.py` renders a point into a checked `.def`.
"""
