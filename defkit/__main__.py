from __future__ import annotations

from defkit.cli import main

raise SystemExit(main())
