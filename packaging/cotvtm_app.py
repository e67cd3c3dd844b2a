"""The packaged app's entry point: with no arguments it opens the desktop app; with arguments it is the `cotvtm`
CLI (the GUI runs its jobs through it as child processes), and so it is for a shell asking it to complete a
command line (click's completion calls it with no arguments and _COTVTM_COMPLETE set)."""

import multiprocessing
import os
import sys

from cotvtm_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the procedural backend's render workers start through this executable
    if len(sys.argv) == 1 and "_COTVTM_COMPLETE" not in os.environ:
        sys.argv.append("gui")
    main()
