"""SIF (Singularity Image Format) images: the on-disk layout (`format`), a writer (`writer`) and
a reader (`reader`).

`writer.write_sif` builds an image the way `apptainer build` lays it out, but reproducibly;
`reader.read_sif` opens one for inspection and verification. The package imports none of its
modules: `defkit pull` needs `arch` alone and should not pay for the reader's and writer's
imports (about 20 ms).
"""
