"""Site profiles: what a cluster's nodes provide (GPU driver, MPI, PMIx, glibc, Apptainer), so the
linter can check an image against the place it will run. `profile` reads and writes the YAML file,
`detect` builds one for this machine, `cuda` and `distros` hold the tables the checks use."""
