"""defkit lint: rules over the parsed model, ShellCheck inside script sections, reports."""
