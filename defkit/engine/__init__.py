"""defkit's build engine: agents that make a base rootfs, the sandbox that runs the scripts, and
the SIF packer. `defkit.engine.engine.build` is the entry point (re-exported as `defkit.build`);
importing this package is cheap, so agents can import `defkit.engine.context` freely."""
