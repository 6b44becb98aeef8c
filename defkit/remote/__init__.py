"""Remote builds: the Sylabs remote build protocol, its client and `defkit serve`."""
