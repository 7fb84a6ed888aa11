"""muvi for DaVinci Resolve: score the current timeline's In/Out (Workspace > Scripts > Edit > muvi).

Installed by `muvi resolve install`, which fills in the two settings below. Resolve runs this file with
its own Python and the `resolve` and `bmd` globals; the music is made by muvi's own Python, out of
process, so nothing needs installing into Resolve.
"""

import sys

MUVI_PATH = ""  # the folder holding the `editor_integrations` package (set by `muvi resolve install`)
MUVI_COMMAND = []  # how to start muvi, e.g. ["/usr/bin/python3", "-m", "muvi_plugin"]


def _main() -> None:
    if MUVI_PATH and MUVI_PATH not in sys.path:
        sys.path.append(MUVI_PATH)  # appended, so nothing of Resolve's own is shadowed
    try:
        from editor_integrations.resolve.run import main
    except ImportError as error:
        print(
            f"muvi: cannot find the muvi package ({error}); run `muvi resolve install` again", file=sys.stderr
        )
        return
    main(resolve=globals().get("resolve"), bmd=globals().get("bmd"), command=MUVI_COMMAND)


# Resolve runs menu scripts as plain files (no `__main__` guard it honours reliably): run on load.
_main()
