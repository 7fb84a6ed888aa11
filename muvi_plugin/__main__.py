"""`python -m muvi_plugin`: the `muvi` command line."""

from muvi_plugin.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
